"""The offline store: each view's feature history as append-only Parquet in the data bucket,
and point-in-time correct training sets built from it with DuckDB's `ASOF LEFT JOIN`.

Layout: `features/offline/<view>/<version>/date=<YYYY-MM-DD of the event>/<write_ms>-<sha>.parquet`.
Every row holds the join key (as text), `event_ms`, `created_ms`, `write_ms` (when the store took
it) and `is_deleted` (a delete is a row too, so history keeps it), then the features. Files are
written once (`put_if_absent`), never rewritten. Uses the BlobStore port's put/get/keys only.

The join, per view: of the rows with `event_ms <= ` the entity row's time, the latest; at one
event time the latest `created_ms` wins, then the earliest write (as the online store's
conditional write decides); a matched row that is a delete or older than the view's TTL gives
nulls. Every entity row comes out, in its input order, nulls where nothing was known yet.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from mlops_template.core.features.definitions import FeatureView, ViewSpec
from mlops_template.core.ports import BlobStore

PREFIX = "features/offline"
ENTITY_TIME = "event_timestamp"
ARROW_TYPES = {
    "float64": pa.float64(),
    "int64": pa.int64(),
    "string": pa.string(),
    "bool": pa.bool_(),
}
DUCK_TYPES = {"float64": "DOUBLE", "int64": "BIGINT", "string": "VARCHAR", "bool": "BOOLEAN"}


class TrainingSetError(ValueError):
    """An entity table or a selection of views a training set cannot be built from."""


def view_prefix(name: str, version: str) -> str:
    return f"{PREFIX}/{name}/{version}/"


def history_schema(view: FeatureView | ViewSpec) -> pa.Schema:
    features = (
        view.features if isinstance(view, ViewSpec) else [(f.name, f.dtype) for f in view.features]
    )
    return pa.schema(
        [
            ("entity", pa.string()),
            ("event_ms", pa.int64()),
            ("created_ms", pa.int64()),
            ("write_ms", pa.int64()),
            ("is_deleted", pa.bool_()),
            # The same times as timestamps, for readers that want one (Feast's sources do).
            ("event_ts", pa.timestamp("ms", tz="UTC")),
            ("created_ts", pa.timestamp("ms", tz="UTC")),
            *[(name, ARROW_TYPES[dtype]) for name, dtype in features],
        ]
    )


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class OfflineStore:
    def __init__(self, store: BlobStore) -> None:
        self.store = store

    def append(
        self, view: FeatureView, table: pa.Table, *, write_ms: int | None = None
    ) -> list[str]:
        """Append rows (the history schema, `write_ms` filled in here): one file per event date.
        Returns the keys written."""
        write_ms = now_ms() if write_ms is None else write_ms
        schema = history_schema(view)
        stamp = pa.timestamp("ms", tz="UTC")
        table = table.drop_columns(
            [c for c in ("write_ms", "event_ts", "created_ts") if c in table.column_names]
        )
        table = (
            table.append_column("write_ms", pa.array([write_ms] * table.num_rows, pa.int64()))
            .append_column("event_ts", table["event_ms"].cast(stamp))
            .append_column("created_ts", table["created_ms"].cast(stamp))
            .select(schema.names)
            .cast(schema)
        )
        con = duckdb.connect()
        con.register("rows", table)
        dates = [
            d
            for (d,) in con.sql(
                "SELECT DISTINCT strftime(make_timestamp(event_ms * 1000), '%Y-%m-%d') d "
                "FROM rows ORDER BY d"
            ).fetchall()
        ]
        keys = []
        for date in dates:
            part = (
                con.sql(
                    "SELECT * FROM rows "
                    "WHERE strftime(make_timestamp(event_ms * 1000), '%Y-%m-%d') = ?",
                    params=[date],
                )
                .to_arrow_table()
                .cast(schema)
            )
            sink = io.BytesIO()
            pq.write_table(part, sink, compression="zstd")
            data = sink.getvalue()
            digest = hashlib.sha256(data).hexdigest()[:16]
            name = f"date={date}/{write_ms:013d}-{digest}.parquet"
            key = f"{view_prefix(view.name, view.version)}{name}"
            self.store.put_if_absent(key, data, content_type="application/vnd.apache.parquet")
            keys.append(key)
        con.close()
        return keys

    def keys(self, view: FeatureView | ViewSpec) -> list[str]:
        """The view version's history files: Parquet from batches, JSON Lines from the stream
        (the streaming function has no pyarrow)."""
        return sorted(
            k
            for k in self.store.keys(view_prefix(view.name, view.version))
            if k.endswith((".parquet", ".jsonl"))
        )

    def history(
        self, view: FeatureView | ViewSpec, *, until_write_ms: int | None = None
    ) -> pa.Table:
        """Every row of a view's history (written at or before `until_write_ms`, if given)."""
        schema = history_schema(view)
        parts = [self._read(k, schema) for k in self.keys(view)]
        table = pa.concat_tables(parts) if parts else schema.empty_table()
        if until_write_ms is not None:
            table = table.filter(pa.compute.less_equal(table["write_ms"], until_write_ms))
        return table

    def _read(self, key: str, schema: pa.Schema) -> pa.Table:
        data = self.store.get(key)
        if key.endswith(".jsonl"):
            rows = [json.loads(line) for line in data.splitlines() if line.strip()]
            return pa.Table.from_pylist(rows, schema=schema)
        return pq.read_table(io.BytesIO(data)).cast(schema)

    def latest(self, view: FeatureView | ViewSpec, *, at_ms: int | None = None) -> pa.Table:
        """Per entity, the row the join would pick at `at_ms` (default: now), deletes included
        and the TTL not applied: what materialization writes online."""
        at_ms = now_ms() if at_ms is None else at_ms
        con = duckdb.connect()
        con.register("h", self.history(view))
        table = con.sql(
            "SELECT * FROM h WHERE event_ms <= ? QUALIFY row_number() OVER ("
            "PARTITION BY entity ORDER BY event_ms DESC, created_ms DESC, write_ms ASC) = 1 "
            "ORDER BY entity",
            params=[at_ms],
        ).to_arrow_table()
        con.close()
        return table


@dataclass(frozen=True)
class TrainingSet:
    table: pa.Table
    manifest: dict[str, Any]


def entity_table_from_bytes(data: bytes, name: str, *, join_keys: Sequence[str] = ()) -> pa.Table:
    """An entity table file (CSV or Parquet, by its name) as Arrow; the join keys read as text
    (an id "007" stays "007", as ingest keeps it)."""
    if name.endswith(".parquet"):
        return pq.read_table(io.BytesIO(data))
    import pyarrow.csv as pacsv

    types = dict.fromkeys(join_keys, pa.string())
    return pacsv.read_csv(
        io.BytesIO(data), convert_options=pacsv.ConvertOptions(column_types=types)
    )


def point_in_time_join(
    entities: pa.Table,
    views: Sequence[tuple[ViewSpec, pa.Table]],
    *,
    keep_keys: bool = True,
) -> pa.Table:
    """Each entity row (join key, `event_timestamp`, anything else) with the features of each
    view as known at its timestamp. The entity table's rows all come back, in order."""
    if not views:
        raise TrainingSetError("name at least one feature view")
    join_keys = {v.join_key for v, _ in views}
    missing = [c for c in [*join_keys, ENTITY_TIME] if c not in entities.column_names]
    if missing:
        raise TrainingSetError(f"the entity table lacks column(s) {missing}")
    names: list[str] = []
    for spec, _ in views:
        names += [n for n, _ in spec.features]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    clashing = sorted(set(names) & set(entities.column_names))
    if duplicated or clashing:
        raise TrainingSetError(
            f"feature names must be unique across the views and the entity table: "
            f"{duplicated + clashing}"
        )
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    # The input order as a column: a scan may run on several threads.
    con.register("entities_in", entities.append_column("__row", pa.array(range(entities.num_rows))))
    # Identifiers in these statements are definition names, checked against NAME (letters,
    # digits and _): nothing a caller sends is spliced into SQL.
    con.execute(
        "CREATE TEMP TABLE e AS SELECT *, "  # noqa: S608
        f"epoch_ms(CAST({ENTITY_TIME} AS TIMESTAMPTZ)) AS __ts FROM entities_in"
    )
    nulls = con.sql("SELECT count(*) FROM e WHERE __ts IS NULL").fetchall()[0][0]
    if nulls:
        raise TrainingSetError(f"{nulls} entity row(s) have no {ENTITY_TIME}")
    selects = ["e.* EXCLUDE (__row, __ts)"]
    joins = []
    for i, (spec, history) in enumerate(views):
        alias = f"f{i}"
        con.register(f"h{i}", history)
        # One row per (entity, event time): latest created, then earliest written.
        con.execute(
            f"CREATE TEMP VIEW {alias} AS SELECT * FROM h{i} QUALIFY"  # noqa: S608
            " row_number() OVER ("
            "PARTITION BY entity, event_ms ORDER BY created_ms DESC, write_ms ASC) = 1"
        )
        valid = f"(NOT {alias}.is_deleted AND e.__ts - {alias}.event_ms <= {int(spec.ttl_ms)})"
        for name, _ in spec.features:
            selects.append(f'CASE WHEN {valid} THEN {alias}."{name}" END AS "{name}"')
        joins.append(
            f'ASOF LEFT JOIN {alias} ON CAST(e."{spec.join_key}" AS VARCHAR) = {alias}.entity '
            f"AND e.__ts >= {alias}.event_ms"
        )
    query = f"SELECT {', '.join(selects)} FROM e {' '.join(joins)} ORDER BY e.__row"  # noqa: S608
    table = con.sql(query).to_arrow_table()
    con.close()
    if not keep_keys:
        table = table.drop_columns(
            [c for c in [*join_keys, ENTITY_TIME] if c in table.column_names]
        )
    return table


def build_training_set(
    offline: OfflineStore,
    entities: pa.Table,
    views: Sequence[FeatureView],
    *,
    entity_sha256: str,
    keep_keys: bool = False,
    as_of_write_ms: int | None = None,
) -> TrainingSet:
    """The point-in-time training set and its manifest: the views with their versions, the
    entity table's hash and the write time the history was read up to (a later build with the
    same manifest reads the same rows: late data written since is left out)."""
    as_of_write_ms = now_ms() if as_of_write_ms is None else as_of_write_ms
    specs = [v.spec() for v in views]
    table = point_in_time_join(
        entities,
        [(s, offline.history(s, until_write_ms=as_of_write_ms)) for s in specs],
        keep_keys=keep_keys,
    )
    manifest = {
        "entity_sha256": entity_sha256,
        "entity_rows": entities.num_rows,
        "as_of_write_ms": as_of_write_ms,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "views": [s.to_json() for s in specs],
    }
    return TrainingSet(table=table, manifest=manifest)


def manifest_json(manifest: dict[str, Any]) -> bytes:
    return json.dumps(manifest, indent=2, sort_keys=True).encode()
