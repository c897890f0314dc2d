"""Served feature values against the offline history: online/offline skew.

A capture of an entity record holds the features the online store gave it and the entity it
named. The offline history holds what a point-in-time training set would have given the same
entity at the capture's time: the latest row with event time <= that time (ties: latest
created, then earliest written), null if it is a delete or older than the view's TTL. The two
should agree; the share of sampled captures where any feature differs is `FeatureSkew`. A
non-zero share means the online store was written by something other than ingest (a bug, a
restore from the wrong backup, a hand edit) or ingest wrote one store and not the other.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from mlops_template.core.backend import Backend
from mlops_template.core.features.definitions import ViewSpec
from mlops_template.core.features.serving import manifest_key
from mlops_template.core.ports import BlobNotFound
from mlops_template.core.records import ModelVersion, PredictionRecord

FEATURE_SKEW_METRIC = "FeatureSkew"
# Captures compared per run: the history is read once per view, the sample bounds the rest.
FEATURE_SKEW_SAMPLE = 200


class FeatureSkewReport(BaseModel):
    compared: int
    differing: int
    share: float | None
    examples: list[str] = []


def views_of(backend: Backend, record: ModelVersion) -> list[ViewSpec] | None:
    """The views the version was trained from (its training set's manifest), or None."""
    try:
        manifest = json.loads(backend.artifacts.get(manifest_key(record.data_sha256)))
    except BlobNotFound:
        return None
    return [ViewSpec.from_json(v) for v in manifest["views"]]


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
        except (TypeError, ValueError):
            return False
    return bool(a == b)


def _point_in_time(rows: list[dict[str, Any]], at_ms: int, ttl_ms: int) -> dict[str, Any] | None:
    """The history row the training set's join picks at `at_ms` (None: nothing, deleted or
    older than the TTL)."""
    known = [r for r in rows if r["event_ms"] <= at_ms]
    if not known:
        return None
    best = min(known, key=lambda r: (-r["event_ms"], -r["created_ms"], r["write_ms"]))
    if best["is_deleted"] or at_ms - best["event_ms"] > ttl_ms:
        return None
    return best


def feature_skew(
    backend: Backend,
    record: ModelVersion,
    captures: Sequence[PredictionRecord],
    *,
    dimensions: dict[str, str] | None = None,
) -> FeatureSkewReport | None:
    """Compare up to FEATURE_SKEW_SAMPLE entity captures with the offline history and publish
    the share that differ. None (nothing published) when the version was not trained from
    feature views or no sampled capture named an entity."""
    views = views_of(backend, record)
    if not views:
        return None
    sample = [c for c in captures if c.entities][:FEATURE_SKEW_SAMPLE]
    if not sample:
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    from mlops_template.core.features.offline import OfflineStore

    offline = OfflineStore(backend.data)
    histories: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for view in views:
        wanted = sorted({c.entities[view.join_key] for c in sample if view.join_key in c.entities})  # type: ignore[index,operator]
        by_entity: dict[str, list[dict[str, Any]]] = {}
        if wanted:
            table = offline.history(view)
            table = table.filter(pc.is_in(table["entity"], value_set=pa.array(wanted)))
            for row in table.to_pylist():
                by_entity.setdefault(str(row["entity"]), []).append(row)
        histories[view.name] = by_entity
    differing = 0
    examples: list[str] = []
    for capture in sample:
        assert capture.entities is not None
        at_ms = int(datetime.fromisoformat(capture.at).timestamp() * 1000)
        differs = []
        for view in views:
            entity = capture.entities.get(view.join_key)
            if entity is None:
                continue
            row = _point_in_time(histories[view.name].get(entity, []), at_ms, view.ttl_ms)
            for name, _ in view.features:
                expected = None if row is None else row.get(name)
                if not _same(capture.features.get(name), expected):
                    differs.append(f"{view.name}.{name}")
        if differs:
            differing += 1
            if len(examples) < 5:
                examples.append(f"{capture.prediction_id}: {', '.join(differs[:5])}")
    share = differing / len(sample)
    backend.metrics.put(FEATURE_SKEW_METRIC, share, unit="None", dimensions=dimensions or {})
    return FeatureSkewReport(
        compared=len(sample), differing=differing, share=share, examples=examples
    )
