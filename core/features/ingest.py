"""Ingest: source rows -> the view's transform -> validated history rows -> offline and online.

Batch (a file) and stream (records from a queue) go through the same `prepare`: the same
transform, the same checks. A file with one bad row is refused whole, with every problem listed
(row number and column), so nothing of it lands: it can be fixed and sent again.
Materialization writes each entity's latest history row to the online store, where the write
rule (latest event time wins) decides; replaying it is harmless.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlops_template.core.features.definitions import FeatureView
from mlops_template.core.features.online import OnlineRecord, OnlineStore

if TYPE_CHECKING:  # pyarrow and DuckDB load only where files are read or written: the
    # streaming path (in the inference package) prepares rows without them.
    import pyarrow as pa

    from mlops_template.core.features.offline import OfflineStore

MAX_REPORTED = 20


class IngestError(ValueError):
    """Rows that do not fit the view: nothing of the batch was written."""

    def __init__(self, view: str, problems: list[str], count: int) -> None:
        shown = "; ".join(problems[:MAX_REPORTED])
        more = f" (and {count - MAX_REPORTED} more)" if count > MAX_REPORTED else ""
        super().__init__(f"{view}: {count} problem(s): {shown}{more}")
        self.problems = problems
        self.count = count


def to_ms(value: Any) -> int:
    """An event time (ISO text, a datetime, or epoch milliseconds) as epoch milliseconds (UTC;
    a time without a zone is taken as UTC)."""
    if isinstance(value, bool):
        raise ValueError("not a time")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError("not a time")
        return int(value)
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return int(value.timestamp() * 1000)
    raise ValueError("not a time")


def _typed(value: Any, dtype: str) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if dtype == "float64":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError("not a number")
        number = float(value)
        if not math.isfinite(number):
            raise ValueError("not a finite number")
        return number
    if dtype == "int64":
        if isinstance(value, bool):
            raise ValueError("not an integer")
        number = float(value)
        if not number.is_integer():
            raise ValueError("not an integer")
        return int(number)
    if dtype == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise ValueError("not a boolean")
    return str(value)


@dataclass(frozen=True)
class Prepared:
    rows: list[dict[str, Any]]

    def table(self, view: FeatureView) -> pa.Table:
        import pyarrow as pa

        from mlops_template.core.features.offline import history_schema

        schema = history_schema(view)
        return pa.Table.from_pylist([{**r, "write_ms": 0} for r in self.rows], schema=schema)


def prepare(view: FeatureView, source_rows: Iterable[Mapping[str, Any]]) -> Prepared:
    """Source rows as history rows: transformed by the view's one transform, typed, checked.
    A source row with `is_deleted` true deletes the entity from its event time on."""
    join_key = view.entity.join_key
    created = view.source.created_time
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    latest: dict[tuple[str, int, int], int] = {}
    for n, source in enumerate(source_rows, start=1):
        try:
            entity = source.get(join_key)
            if entity is None or entity == "":
                raise ValueError(f"{join_key} is empty")
            try:
                event_ms = to_ms(source.get(view.source.event_time))
            except (ValueError, TypeError):
                raise ValueError(f"{view.source.event_time} is not a time") from None
            created_ms = 0
            if created is not None and source.get(created) is not None:
                created_ms = to_ms(source[created])
            deleted = _typed(source.get("is_deleted"), "bool") or False
            values: Mapping[str, Any] = {}
            if not deleted:
                values = view.transform(source) if view.transform else source
            row: dict[str, Any] = {
                "entity": str(entity),
                "event_ms": event_ms,
                "created_ms": created_ms,
                "is_deleted": deleted,
                "event_ts": event_ms,
                "created_ts": created_ms,
            }
            for feature in view.features:
                try:
                    row[feature.name] = _typed(values.get(feature.name), feature.dtype)
                except (ValueError, TypeError) as exc:
                    raise ValueError(f"{feature.name}: {exc}") from None
        except Exception as exc:
            problems.append(f"row {n}: {exc}")
            continue
        # One row per entity, event and created time within a batch: the last one sent.
        ident = (row["entity"], event_ms, created_ms)
        if ident in latest:
            rows[latest[ident]] = row
        else:
            latest[ident] = len(rows)
            rows.append(row)
    if problems:
        raise IngestError(view.name, problems, len(problems))
    return Prepared(rows)


def read_source_file(
    data: bytes, name: str, *, text_columns: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """A source file (CSV or Parquet, by name) as rows; `text_columns` (the join key) are read
    as text, so an id "007" stays "007"."""
    import pyarrow as pa

    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        return pq.read_table(io.BytesIO(data)).to_pylist()
    import pyarrow.csv as pacsv

    table = pacsv.read_csv(
        io.BytesIO(data),
        convert_options=pacsv.ConvertOptions(
            strings_can_be_null=True, column_types=dict.fromkeys(text_columns, pa.string())
        ),
    )
    return table.to_pylist()


@dataclass(frozen=True)
class IngestResult:
    view: str
    version: str
    rows: int
    offline_keys: list[str]
    online_written: int


def online_records(rows: Sequence[Mapping[str, Any]], view: FeatureView) -> list[OnlineRecord]:
    return [
        OnlineRecord(
            entity=str(r["entity"]),
            event_ms=int(r["event_ms"]),
            created_ms=int(r["created_ms"]),
            values={f: r[f] for f in view.feature_names},
            deleted=bool(r["is_deleted"]),
        )
        for r in rows
    ]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def latest_per_entity(rows: Sequence[Mapping[str, Any]], at_ms: int) -> list[Mapping[str, Any]]:
    best: dict[str, Mapping[str, Any]] = {}
    for r in rows:
        if r["event_ms"] > at_ms:
            continue  # a value from the future is not the current one yet
        old = best.get(r["entity"])
        if old is None or (r["event_ms"], r["created_ms"]) > (old["event_ms"], old["created_ms"]):
            best[r["entity"]] = r
    return list(best.values())


def ingest(
    view: FeatureView,
    source_rows: Iterable[Mapping[str, Any]],
    offline: OfflineStore,
    online: OnlineStore | None,
    *,
    write_ms: int | None = None,
) -> IngestResult:
    """Batch or stream: prepare, append to the history, then update the online store."""
    prepared = prepare(view, source_rows)
    keys = offline.append(view, prepared.table(view), write_ms=write_ms) if prepared.rows else []
    written = 0
    if online is not None and prepared.rows:
        latest = latest_per_entity(prepared.rows, now_ms())
        written = online.write(
            view.name, view.version, online_records(latest, view), ttl_ms=view.ttl_ms
        )
    return IngestResult(view.name, view.version, len(prepared.rows), keys, written)


def materialize(
    view: FeatureView, offline: OfflineStore, online: OnlineStore, *, at_ms: int | None = None
) -> int:
    """Each entity's latest history row (as of `at_ms`, default now) into the online store."""
    latest = offline.latest(view, at_ms=at_ms).to_pylist()
    return online.write(view.name, view.version, online_records(latest, view), ttl_ms=view.ttl_ms)
