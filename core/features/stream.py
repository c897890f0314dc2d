"""Streaming feature ingest: a queue message of source rows for one view, in the same
`prepare` (transform + checks) as batch ingest, written to the online store (latest event time
wins) and to the offline history as one JSON Lines file per message.

A message: `{"feature_view": "customer_stats", "records": [{source row}, ...]}`. It runs in
the streaming function, which ships in the inference package: no pyarrow or DuckDB here (the
offline reader reads JSON Lines parts beside Parquet). Queues deliver at least once: the
history file is named by the message id and written only if absent, and the online write rule
makes a repeat a no-op, so a redelivered message changes nothing.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from mlops_template.core.features.definitions import FeatureRepo
from mlops_template.core.features.ingest import (
    IngestError,
    latest_per_entity,
    now_ms,
    online_records,
    prepare,
)
from mlops_template.core.features.online import OnlineStore
from mlops_template.core.ports import BlobExists, BlobStore

VIEW_FIELD = "feature_view"


class FeatureMessageRejected(ValueError):
    """The message names no known view or holds rows that do not fit it: retrying cannot help."""


def is_feature_message(body: Any) -> bool:
    return isinstance(body, Mapping) and VIEW_FIELD in body


def ingest_message(
    repo: FeatureRepo,
    body: Mapping[str, Any],
    message_id: str,
    data: BlobStore,
    online: OnlineStore | None,
) -> dict[str, Any]:
    name = body.get(VIEW_FIELD)
    if not isinstance(name, str) or name not in repo.views:
        raise FeatureMessageRejected(f"unknown feature view {name!r}")
    records = body.get("records")
    if not isinstance(records, list) or not all(isinstance(r, Mapping) for r in records):
        raise FeatureMessageRejected("records must be a list of objects")
    view = repo.views[name]
    try:
        prepared = prepare(view, records)
    except IngestError as exc:
        raise FeatureMessageRejected(str(exc)) from None
    written_ms = now_ms()
    by_date: dict[str, list[dict[str, Any]]] = {}
    for row in prepared.rows:
        date = datetime.fromtimestamp(row["event_ms"] / 1000, UTC).strftime("%Y-%m-%d")
        by_date.setdefault(date, []).append({**row, "write_ms": written_ms})
    safe_id = "".join(c if c.isalnum() or c in "-_" else "_" for c in message_id)[:80]
    for date, rows in sorted(by_date.items()):
        key = f"features/offline/{view.name}/{view.version}/date={date}/stream-{safe_id}.jsonl"
        lines = "".join(json.dumps(r) + "\n" for r in rows).encode()
        # A redelivered message: its history is already there.
        with contextlib.suppress(BlobExists):
            data.put_if_absent(key, lines, content_type="application/x-ndjson")
    stored = 0
    if online is not None and prepared.rows:
        latest = latest_per_entity(prepared.rows, written_ms)
        stored = online.write(
            view.name, view.version, online_records(latest, view), ttl_ms=view.ttl_ms
        )
    return {
        "feature_view": view.name,
        "version": view.version,
        "rows": len(prepared.rows),
        "online_written": stored,
    }
