"""The feature store end to end on the local backend: ingest, a point-in-time training set, a
model trained from it, and /predict answering entity records with features read online; the
model sees the same values served as it did in training (no skew)."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from mlops_template.core.features.definitions import load_repo
from mlops_template.core.features.ingest import materialize
from mlops_template.core.features.offline import OfflineStore, point_in_time_join
from mlops_template.core.features.serving import EntityResolver
from mlops_template.core.serving.app import create_app
from mlops_template.core.serving.router import ModelRouter
from mlops_template.tooling import feature_demo

from .conftest import MODEL

REPO_FILE = feature_demo.__file__
VIEW = "customer_stats"


@pytest.fixture
def trained_from_features(run, backend, tmp_path):
    """The demo's data ingested, a training set built and a model trained and in production.
    The data ends about now, so the online values are within the view's TTL."""
    start = datetime.now(UTC) - timedelta(days=45)
    source, entities = feature_demo.demo_files(start=start)
    (tmp_path / "source.csv").write_bytes(source)
    (tmp_path / "entities.csv").write_bytes(entities)
    out = run("features", "ingest", VIEW, str(tmp_path / "source.csv"), "--repo", REPO_FILE)
    assert out.exit_code == 0, out.output
    out = run(
        "features",
        "training-set",
        "--entities",
        str(tmp_path / "entities.csv"),
        "--view",
        VIEW,
        "--output",
        str(tmp_path / "train.csv"),
        "--repo",
        REPO_FILE,
    )
    assert out.exit_code == 0, out.output
    assert "1500 rows" in out.output
    # Nulls are what a point-in-time set holds before a customer's first statistics (and
    # after their TTL): the data contract is told to expect them.
    (tmp_path / "config.toml").write_text(feature_demo.TRAINING_CONFIG)
    out = run(
        "train",
        "--data",
        str(tmp_path / "train.csv"),
        "--target",
        "fraud",
        "--config",
        str(tmp_path / "config.toml"),
        "--promote",
        "production",
    )
    assert out.exit_code == 0, out.output
    return source


def client_for(backend, policy="reject"):
    router = ModelRouter(
        backend.registry, backend.artifacts, MODEL, "production", refresh_seconds=0
    )
    app = create_app(
        router,
        metrics=backend.metrics,
        online_features=backend.online_features,
        feature_missing=policy,
    )
    return TestClient(app)


def fresh_customers(source: bytes, within=timedelta(days=25)) -> list[str]:
    """Customers whose latest statistics are recent (within the view's TTL of now)."""
    latest: dict[str, str] = {}
    for r in csv.DictReader(io.StringIO(source.decode())):
        latest[r["customer_id"]] = max(latest.get(r["customer_id"], ""), r["event_time"])
    cutoff = datetime.now(UTC) - within
    return sorted(c for c, t in latest.items() if datetime.fromisoformat(t) > cutoff)


def test_predict_answers_entity_records_from_the_online_store(trained_from_features, backend, run):
    client = client_for(backend)
    c1, c2 = fresh_customers(trained_from_features)[:2]
    answer = client.post(
        "/predict",
        json={"records": [{"customer_id": c1, "amount": 12.5}, {"customer_id": c2, "amount": 900}]},
    )
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["predictions"]) == 2
    # The caller's own feature values are kept: only missing ones are looked up.
    full = client.post(
        "/predict",
        json={
            "records": [
                {
                    "customer_id": c1,
                    "amount": 12.5,
                    "avg_order": None,
                    "log_total_spend": None,
                    "orders": None,
                }
            ]
        },
    )
    assert full.status_code == 200, full.text

    # A missing entity: a 422 naming it, or (policy "default") the training set's null.
    body = {
        "records": [{"customer_id": c1, "amount": 1.0}, {"customer_id": "nobody", "amount": 1.0}]
    }
    refused = client_for(backend).post("/predict", json=body)
    assert refused.status_code == 422
    detail = refused.json()["detail"][0]
    assert detail["loc"] == ["body", "records", 1, "customer_id"]
    assert "'nobody'" in detail["msg"] and VIEW in detail["msg"]
    assert client_for(backend, "default").post("/predict", json=body).status_code == 200
    # The version's training set, found by its data hash: views, versions, entity table hash.
    shown = json.loads(run("features", "manifest", "1").output)
    assert shown["views"][0]["name"] == VIEW and shown["entity_rows"] == 1500
    assert len(shown["entity_sha256"]) == 64
    misses = [
        json.loads(line)
        for line in (backend_home(backend) / "metrics.jsonl").read_text().splitlines()
    ]
    counted = [m for m in misses if m.get("name") == "FeatureMisses"]
    assert counted and counted[-1]["dimensions"]["reason"] == "missing"


def backend_home(backend) -> Path:
    return backend.artifacts.root.parent


def test_no_skew_the_served_values_are_the_training_sets(trained_from_features, backend):
    """Materialize, then the entity form at time T and the offline training set for the same
    entity and T give the model identical values (and so the same prediction)."""
    repo = load_repo(REPO_FILE)
    view = repo.view(VIEW)
    offline = OfflineStore(backend.data)
    materialize(view, offline, backend.online_features)
    now = time.time()
    customers = sorted(
        {r["customer_id"] for r in csv.DictReader(io.StringIO(trained_from_features.decode()))}
    )[:40]  # fresh, stale and (deleted: none) alike: the default policy answers nulls for stale
    resolver = EntityResolver(
        backend.online_features, backend.artifacts, policy="default", clock=lambda: now
    )
    version = backend.registry.get(MODEL, 1)
    body = json.dumps({"records": [{"customer_id": c, "amount": 10.0} for c in customers]}).encode()
    served = json.loads(resolver.resolve(body, version.data_sha256))["records"]
    entities = pa.table(
        {
            "customer_id": customers,
            "event_timestamp": pa.array(
                [int(now * 1000)] * len(customers), pa.timestamp("ms", tz="UTC")
            ),
        }
    )
    spec = view.spec()
    offline_rows = point_in_time_join(entities, [(spec, offline.history(spec))]).to_pylist()
    names = view.feature_names
    assert [{n: r[n] for n in names} for r in served] == [
        {n: r[n] for n in names} for r in offline_rows
    ]
    assert any(r["avg_order"] is not None for r in served)
    # And the model's answers agree: entity form vs the full record from the offline row.
    client = client_for(backend, "default")
    by_entity = client.post(
        "/predict", json={"records": [{"customer_id": c, "amount": 10.0} for c in customers]}
    )
    by_value = client.post(
        "/predict",
        json={"records": [{**{n: r[n] for n in names}, "amount": 10.0} for r in offline_rows]},
    )
    strip = lambda a: [(p["label"], p["probability"]) for p in a.json()["predictions"]]  # noqa: E731
    assert by_entity.status_code == by_value.status_code == 200
    assert strip(by_entity) == strip(by_value)


def test_features_list_and_show_print_versions_and_lineage(run, tmp_path):
    source, _ = feature_demo.demo_files()
    (tmp_path / "source.csv").write_bytes(source)
    assert (
        run("features", "ingest", VIEW, str(tmp_path / "source.csv"), "--repo", REPO_FILE).exit_code
        == 0
    )
    repo = load_repo(REPO_FILE)
    out = run("features", "list", "--repo", REPO_FILE)
    assert out.exit_code == 0 and repo.view(VIEW).version in out.output
    out = run("features", "show", VIEW, "--repo", REPO_FILE)
    shown = json.loads(out.output)
    assert shown["version"] == repo.view(VIEW).version
    assert shown["lineage"][0]["source"] == "source.csv" and shown["lineage"][0]["rows"] > 0


def test_a_bad_source_file_is_refused_whole(run, backend, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(
        "customer_id,event_time,created_time,total_spend,orders\n"
        "c1,2026-01-01T00:00:00,,10,1\n"
        "c2,not a time,,10,1\n"
        "c3,2026-01-01T00:00:00,,ten,1\n"
    )
    out = run("features", "ingest", VIEW, str(path), "--repo", REPO_FILE)
    assert out.exit_code == 3
    assert "row 2" in out.output and "row 3" in out.output
    assert backend.data.keys("features/offline/") == []


def test_the_monitor_finds_served_values_that_differ_from_the_offline_history(
    trained_from_features, backend
):
    """Entity captures are checked against the history's point-in-time values: none differ
    while the online store is what ingest wrote; tampering with it online shows as skew."""
    from mlops_template.core.features.online import OnlineKey, OnlineRecord
    from mlops_template.core.features.skew import FEATURE_SKEW_METRIC
    from mlops_template.core.monitoring import run_monitor

    router = ModelRouter(
        backend.registry, backend.artifacts, MODEL, "production", refresh_seconds=0
    )
    client = TestClient(
        create_app(
            router,
            predictions=backend.predictions,
            metrics=backend.metrics,
            online_features=backend.online_features,
        )
    )
    customers = fresh_customers(trained_from_features)[:6]
    body = {"records": [{"customer_id": c, "amount": 10.0} for c in customers]}
    assert client.post("/predict", json=body).status_code == 200
    # A plain record (no entity) is not compared.
    plain = {"amount": 1.0, "avg_order": 2.0, "log_total_spend": 3.0, "orders": 4}
    assert client.post("/predict", json={"records": [plain]}).status_code == 200

    clean = run_monitor(backend, MODEL, end=datetime.now(UTC) + timedelta(minutes=1))
    assert clean.feature_skew is not None
    assert (clean.feature_skew.compared, clean.feature_skew.differing) == (6, 0)
    assert clean.feature_skew.share == 0.0

    # Tamper: a newer online record for two customers with values the history never held.
    current = backend.registry.current(MODEL, "production")
    views = json.loads(backend.artifacts.get(f"features/training-sets/{current.data_sha256}.json"))[
        "views"
    ]
    view = next(v for v in views if v["name"] == VIEW)
    key = OnlineKey(VIEW, view["version"], customers[0])
    stored = backend.online_features.read([key])[key]
    now_ms = int(time.time() * 1000)
    forged = [
        OnlineRecord(
            entity=c,
            event_ms=now_ms,
            created_ms=now_ms,
            values={**stored.values, "avg_order": 123456.0},
        )
        for c in customers[:2]
    ]
    assert backend.online_features.write(VIEW, view["version"], forged, ttl_ms=view["ttl_ms"]) == 2
    assert client.post("/predict", json=body).status_code == 200

    skewed = run_monitor(backend, MODEL, end=datetime.now(UTC) + timedelta(minutes=1))
    assert skewed.feature_skew is not None
    # 12 entity captures: the 6 before the tampering agree, 2 of the 6 after do not.
    assert (skewed.feature_skew.compared, skewed.feature_skew.differing) == (12, 2)
    assert skewed.feature_skew.examples and f"{VIEW}.avg_order" in skewed.feature_skew.examples[0]
    points = [
        json.loads(line)
        for line in (backend_home(backend) / "metrics.jsonl").read_text().splitlines()
    ]
    published = [p["value"] for p in points if p.get("name") == FEATURE_SKEW_METRIC]
    assert published == [0.0, pytest.approx(2 / 12)]
