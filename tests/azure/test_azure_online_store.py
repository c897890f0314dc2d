"""The online feature store on Azure Table Storage (Azurite): the write rule as ETag
conditions, typed properties, batched reads."""

from __future__ import annotations

from mlops_template.core.features.online import OnlineKey, OnlineRecord
from mlops_template.infra.azure.online_store import TableOnlineStore

DAY_MS = 86_400_000


def test_an_older_record_is_refused_and_values_keep_their_types(azure_table):
    store = TableOnlineStore(azure_table("features"))
    newer = OnlineRecord(
        "c/1#?", 2 * DAY_MS, 5, {"spend": 2.5, "n": 3, "tier": "gold", "vip": True}
    )
    older = OnlineRecord("c/1#?", 1 * DAY_MS, 9, {"spend": 1.0, "n": 1, "tier": "x", "vip": False})
    later_created = OnlineRecord(
        "c/1#?", 2 * DAY_MS, 6, {"spend": 7.25, "n": 2**40, "tier": None, "vip": False}
    )
    assert store.write("v", "abc", [newer], ttl_ms=DAY_MS) == 1
    assert store.write("v", "abc", [older, newer], ttl_ms=DAY_MS) == 0
    key = OnlineKey("v", "abc", "c/1#?")
    assert store.read([key])[key].values == {"spend": 2.5, "n": 3, "tier": "gold", "vip": True}
    assert store.write("v", "abc", [later_created], ttl_ms=DAY_MS) == 1
    got = store.read([key, OnlineKey("v", "abc", "nobody"), OnlineKey("w", "abc", "c/1#?")])
    assert list(got) == [key]
    assert got[key].values == {"spend": 7.25, "n": 2**40, "vip": False}  # a null is absent
    assert (got[key].event_ms, got[key].created_ms, got[key].entity) == (2 * DAY_MS, 6, "c/1#?")


def test_reads_of_many_keys_are_batched_by_partition(azure_table):
    store = TableOnlineStore(azure_table("features"))
    records = [OnlineRecord(f"e{i}", DAY_MS, 0, {"x": float(i)}) for i in range(120)]
    assert store.write("v", "abc", records, ttl_ms=DAY_MS) == 120
    keys = [OnlineKey("v", "abc", f"e{i}") for i in range(0, 130)]
    got = store.read(keys)
    assert len(got) == 120 and got[OnlineKey("v", "abc", "e77")].values == {"x": 77.0}
