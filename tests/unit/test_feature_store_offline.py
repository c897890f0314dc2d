"""The offline store and the point-in-time join, checked against a brute-force reference."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from mlops_template.core.features.definitions import (
    DefinitionError,
    Entity,
    Feature,
    FeatureView,
)
from mlops_template.core.features.offline import (
    OfflineStore,
    TrainingSetError,
    build_training_set,
    point_in_time_join,
)
from mlops_template.infra.local.blobstore import FileBlobStore

CUSTOMER = Entity("customer", join_key="customer_id")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
MS = lambda dt: int(dt.timestamp() * 1000)  # noqa: E731


def view(ttl=timedelta(days=30), **kw) -> FeatureView:
    return FeatureView(
        name="stats",
        entity=CUSTOMER,
        features=(Feature("spend"), Feature("visits", "int64")),
        ttl=ttl,
        **kw,
    )


def history(rows, v=None) -> pa.Table:
    """rows: (entity, event dt, created ms, write ms, deleted, spend, visits)"""
    cols = list(zip(*rows, strict=True)) if rows else [[]] * 7
    return pa.table(
        {
            "entity": pa.array(cols[0], pa.string()),
            "event_ms": pa.array([MS(t) for t in cols[1]], pa.int64()),
            "created_ms": pa.array(cols[2], pa.int64()),
            "write_ms": pa.array(cols[3], pa.int64()),
            "is_deleted": pa.array(cols[4], pa.bool_()),
            "spend": pa.array(cols[5], pa.float64()),
            "visits": pa.array(cols[6], pa.int64()),
        }
    )


def entities(pairs) -> pa.Table:
    return pa.table(
        {
            "customer_id": [e for e, _ in pairs],
            "event_timestamp": pa.array([t for _, t in pairs], pa.timestamp("ms", tz="UTC")),
        }
    )


def test_entities_before_any_feature_row_get_nulls_and_are_kept():
    h = history([("c1", T0 + timedelta(days=2), 0, 0, False, 5.0, 1)])
    e = entities([("c1", T0), ("c1", T0 + timedelta(days=1)), ("c9", T0 + timedelta(days=3))])
    out = point_in_time_join(e, [(view().spec(), h)]).to_pylist()
    assert len(out) == 3
    assert [r["spend"] for r in out] == [None, None, None]


def test_a_row_exactly_on_a_feature_timestamp_is_matched_inclusively():
    t = T0 + timedelta(hours=5)
    h = history([("c1", t, 0, 0, False, 7.5, 3)])
    out = point_in_time_join(entities([("c1", t)]), [(view().spec(), h)]).to_pylist()
    assert (out[0]["spend"], out[0]["visits"]) == (7.5, 3)


def test_ttl_and_deletes_give_nulls():
    h = history(
        [
            ("c1", T0, 0, 0, False, 1.0, 1),
            ("c2", T0, 0, 0, False, 2.0, 2),
            ("c2", T0 + timedelta(days=1), 0, 0, True, None, None),
        ]
    )
    e = entities([("c1", T0 + timedelta(days=2)), ("c2", T0 + timedelta(days=2))])
    out = point_in_time_join(e, [(view(ttl=timedelta(days=1)).spec(), h)]).to_pylist()
    assert [r["spend"] for r in out] == [None, None]  # c1 too old, c2 deleted
    out = point_in_time_join(e, [(view(ttl=timedelta(days=3)).spec(), h)]).to_pylist()
    assert [r["spend"] for r in out] == [1.0, None]


def test_missing_entity_columns_and_clashing_names_are_refused():
    h = history([])
    with pytest.raises(TrainingSetError, match="event_timestamp"):
        point_in_time_join(pa.table({"customer_id": ["c1"]}), [(view().spec(), h)])
    e = entities([("c1", T0)]).append_column("spend", pa.array([1.0]))
    with pytest.raises(TrainingSetError, match="spend"):
        point_in_time_join(e, [(view().spec(), h)])


def reference(e_pairs, rows, ttl_ms):
    """Brute force: for each entity row, scan every feature row."""
    out = []
    for ent, ts in e_pairs:
        best = None
        for r in rows:
            if r[0] != ent or MS(r[1]) > MS(ts):
                continue
            key = (MS(r[1]), r[2], -r[3])
            if best is None or key > best[0]:
                best = (key, r)
        if best is None:
            out.append((None, None))
            continue
        r = best[1]
        if r[4] or MS(ts) - MS(r[1]) > ttl_ms:
            out.append((None, None))
        else:
            out.append((r[5], r[6]))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_join_matches_a_brute_force_reference_with_ties_gaps_and_late_entities(seed):
    rng = random.Random(seed)
    ents = [f"c{i}" for i in range(15)]
    rows = []
    for n in range(300):
        ent = rng.choice(ents[:12])  # c12..c14 never have features
        # Coarse times: many ties on the event time, broken by created time then write time.
        t = T0 + timedelta(hours=rng.randrange(0, 200, 5))
        # Write times are unique: ingest keeps one row per entity, event and created time of
        # a batch, so no two stored rows tie on all three.
        write = rng.randrange(4) * 1000 + n
        rows.append((ent, t, rng.randrange(3), write, rng.random() < 0.1, float(n), n))
    e_pairs = [
        (rng.choice(ents), T0 + timedelta(hours=rng.randrange(-20, 260, 5))) for _ in range(200)
    ]
    ttl = timedelta(hours=40)
    out = point_in_time_join(entities(e_pairs), [(view(ttl=ttl).spec(), history(rows))])
    got = [(r["spend"], r["visits"]) for r in out.to_pylist()]
    assert got == reference(e_pairs, rows, int(ttl.total_seconds() * 1000))
    assert [r["customer_id"] for r in out.to_pylist()] == [e for e, _ in e_pairs]


def test_history_is_appended_per_date_and_read_back_as_of_a_write_time(tmp_path):
    store = OfflineStore(FileBlobStore(tmp_path))
    v = view()
    first = history(
        [("c1", T0, 0, 0, False, 1.0, 1), ("c1", T0 + timedelta(days=1), 0, 0, False, 2.0, 2)]
    )
    keys = store.append(v, first, write_ms=1000)
    assert len(keys) == 2 and "date=2026-01-01" in keys[0] and "date=2026-01-02" in keys[1]
    late = history([("c1", T0 + timedelta(hours=1), 0, 0, False, 9.0, 9)])
    store.append(v, late, write_ms=2000)
    e = entities([("c1", T0 + timedelta(hours=2))])
    then = build_training_set(store, e, [v], entity_sha256="x", as_of_write_ms=1500)
    now = build_training_set(store, e, [v], entity_sha256="x")
    assert then.table.column("spend").to_pylist() == [1.0]  # reproducible: late row left out
    assert now.table.column("spend").to_pylist() == [9.0]
    assert then.table.column_names == ["spend", "visits"]
    assert then.manifest["views"][0]["version"] == v.version


def test_a_changed_definition_is_a_new_version():
    def double(row):
        return {"spend": row["spend"] * 2, "visits": row["visits"]}

    base = view()
    assert view().version == base.version
    assert view(ttl=timedelta(days=1)).version != base.version
    assert view(transform=double).version != base.version
    with pytest.raises(DefinitionError):
        FeatureView("v", CUSTOMER, (Feature("event_ms"),), ttl=timedelta(days=1))
