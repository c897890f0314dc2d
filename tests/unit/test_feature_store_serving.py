"""Entity records at /predict, without HTTP: the lookup, the policies, and what the serving
path may import."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mlops_template.core.features.definitions import ViewSpec
from mlops_template.core.features.online import InMemoryOnlineStore, OnlineRecord
from mlops_template.core.features.serving import EntityResolver, manifest_key
from mlops_template.core.serving.bodies import BodyValidationError
from mlops_template.infra.local.blobstore import FileBlobStore

NOW = 1_000 * 86_400.0  # seconds
VIEW = ViewSpec(
    "stats", "v1", "customer_id", (("spend", "float64"), ("n", "int64")), ttl_ms=3_600_000
)


@pytest.fixture
def resolver(tmp_path):
    artifacts = FileBlobStore(tmp_path)
    artifacts.put(manifest_key("d" * 64), json.dumps({"views": [VIEW.to_json()]}).encode())
    store = InMemoryOnlineStore()
    now_ms = int(NOW * 1000)
    store.write(
        "stats", "v1", [OnlineRecord("fresh", now_ms - 60_000, 0, {"spend": 1.5, "n": 2})], ttl_ms=0
    )
    store.write(
        "stats",
        "v1",
        [OnlineRecord("old", now_ms - 7_200_000, 0, {"spend": 9.0, "n": 9})],
        ttl_ms=0,
    )
    store.write("stats", "v1", [OnlineRecord("gone", now_ms, 0, {}, deleted=True)], ttl_ms=0)
    emitted = []

    def build(policy):
        return EntityResolver(
            store,
            artifacts,
            policy=policy,
            clock=lambda: NOW,
            emit=lambda *a, **k: emitted.append((a, k)),
        )

    build.emitted = emitted
    return build


def body(*records):
    return json.dumps({"records": list(records)}).encode()


def test_features_are_filled_in_and_the_join_key_removed(resolver):
    out = json.loads(
        resolver("reject").resolve(body({"customer_id": "fresh", "amount": 3}), "d" * 64)
    )
    assert out == {"records": [{"amount": 3, "spend": 1.5, "n": 2}]}
    # A value the caller sends is kept.
    out = json.loads(
        resolver("reject").resolve(body({"customer_id": "fresh", "spend": 7.0}), "d" * 64)
    )
    assert out["records"] == [{"spend": 7.0, "n": 2}]


def test_stale_missing_and_deleted_entities_follow_the_policy_and_are_counted(resolver):
    request = body({"customer_id": "old"}, {"customer_id": "nobody"}, {"customer_id": "gone"})
    with pytest.raises(BodyValidationError) as refused:
        resolver("reject").resolve(request, "d" * 64)
    errors = refused.value.errors()
    assert [e["loc"] for e in errors] == [("body", "records", i, "customer_id") for i in range(3)]
    assert "older than the view's TTL" in errors[0]["msg"] and "'nobody'" in errors[1]["msg"]
    out = json.loads(resolver("default").resolve(request, "d" * 64))
    assert out["records"] == [{"spend": None, "n": None}] * 3
    counted = {(k["view"], k["reason"]): a[1] for a, k in resolver.emitted}
    assert counted == {("stats", "stale"): 1, ("stats", "missing"): 2}


def test_a_version_not_trained_from_features_leaves_the_body_alone(resolver):
    request = body({"customer_id": "fresh"})
    assert resolver("reject").resolve(request, "e" * 64) is request


def test_the_serving_path_loads_neither_pyarrow_nor_duckdb():
    code = (
        "import sys; import mlops_template.functions.inference.handler, "
        "mlops_template.functions.stream, mlops_template.core.features.serving; "
        "print([m for m in ('pyarrow', 'duckdb', 'pandas') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
