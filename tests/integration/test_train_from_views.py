"""Training from feature views through the pipeline itself: a label file (entity key, event
time, target) arrives, the validate step joins it point in time against the offline store, the
model trains on the joined table, and the registered version names the views it was trained on,
which serving then looks features up in. A view or a column that is not there stops the run at
its first step with a message naming it, and nothing is registered."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from fastapi.testclient import TestClient

from mlops_template.core.alarms import AlarmNotification
from mlops_template.core.features.definitions import load_repo
from mlops_template.core.features.ingest import ingest, read_source_file
from mlops_template.core.features.offline import OfflineStore
from mlops_template.core.features.serving import EntityResolver, manifest_key
from mlops_template.core.forget import forget
from mlops_template.core.pipeline import LocalPipeline, PipelineSteps
from mlops_template.core.reactions import retrain
from mlops_template.core.records import PipelineStart
from mlops_template.core.serving.app import create_app
from mlops_template.core.serving.router import ModelRouter
from mlops_template.core.settings import get_settings
from mlops_template.core.starter import LocalPipelineStarter
from mlops_template.tooling import feature_demo
from mlops_template.training.config import FeaturesFrom, TrainingConfig, ValidationThresholds
from mlops_template.training.files import SCHEMA_FILE
from mlops_template.training.schema import DatasetSchema

MODEL = "fraud"
VIEW = "customer_stats"
START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=45)
# A customer whose statistics change: a label between the two values must get the first one.
PROBE_BEFORE, PROBE_AFTER = START + timedelta(days=2), START + timedelta(days=12)


def _csv(rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def source_rows() -> list[dict]:
    rows = feature_demo.source_rows(customers=120, start=START)
    for at, total, orders in ((PROBE_BEFORE, 100.0, 10), (PROBE_AFTER, 10_100.0, 20)):
        rows.append(
            {
                "customer_id": "probe",
                "event_time": at.isoformat(),
                "created_time": at.isoformat(),
                "total_spend": total,
                "orders": orders,
            }
        )
    return rows


PROBES = [  # (label time, the avg_order the join must give): before any value, between, on
    (PROBE_BEFORE - timedelta(days=1), None),
    (PROBE_BEFORE + timedelta(days=5), 10.0),  # the 505.0 stamped later must not be used
    (PROBE_AFTER, 505.0),  # a value stamped exactly at the label's time is known then
]


def label_rows(source: list[dict]) -> list[dict]:
    """The demo's payments, their time column named as a label file might name it."""
    rows = [
        {
            "customer_id": r["customer_id"],
            "paid_at": r["event_timestamp"],
            "amount": r["amount"],
            "fraud": r["fraud"],
        }
        for r in feature_demo.entity_rows(source, payments=700, start=START)
    ]
    for at, _ in PROBES:
        rows.append(
            {"customer_id": "probe", "paid_at": at.isoformat(), "amount": 5.0, "fraud": "no"}
        )
    return rows


def features_config(**features_from) -> TrainingConfig:
    spec = {"views": [VIEW], "entity_keys": ["customer_id"], "event_time": "paid_at"}
    return TrainingConfig(
        model_name=MODEL,
        target="fraud",
        validation=ValidationThresholds(max_missing_ratio=0.6),
        features_from=FeaturesFrom(**{**spec, **features_from}),
    )


@pytest.fixture
def repo():
    return load_repo(feature_demo.__file__)


@pytest.fixture
def ingested(backend, repo):
    source = source_rows()
    rows = read_source_file(_csv(source), "stats.csv", text_columns=["customer_id"])
    ingest(repo.view(VIEW), rows, OfflineStore(backend.data), backend.online_features)
    return source


def expected_avg(source: list[dict], customer: str, at: datetime, ttl: timedelta):
    """Brute force: the customer's latest statistics stamped at or before `at`, within the TTL."""
    known = [
        r
        for r in source
        if r["customer_id"] == customer and datetime.fromisoformat(r["event_time"]) <= at
    ]
    if not known:
        return None
    latest = max(known, key=lambda r: datetime.fromisoformat(r["event_time"]))
    if at - datetime.fromisoformat(latest["event_time"]) > ttl:
        return None
    return feature_demo.order_stats(latest)["avg_order"]


def test_a_label_file_becomes_a_registered_model_trained_on_the_joined_features(
    backend, repo, ingested, monkeypatch
):
    view = repo.view(VIEW)
    steps = PipelineSteps(backend, feature_repo=repo)
    steps.save_config(features_config())
    labels = label_rows(ingested)
    data = _csv(labels)
    backend.data.put("incoming/payments.csv", data)

    result = LocalPipeline(backend, steps=steps).run(
        MODEL, "incoming/payments.csv", auto_promote="production"
    )

    assert result.status == "registered", result.error
    assert [s.name for s in result.steps] == ["validate", "train", "evaluate", "register"]
    version = backend.registry.get(MODEL, result.version)
    # What was validated and trained on is the joined table: the label file's own columns
    # but its key and time, and the view's features.
    table = pacsv.read_csv(io.BytesIO(backend.data.get(steps.latest_dataset(MODEL).key)))
    assert table.column_names == ["amount", "fraud", *view.feature_names]
    assert table.num_rows == len(labels)  # every label row kept, none dropped
    assert hashlib.sha256(backend.data.get(steps.latest_dataset(MODEL).key)).hexdigest() == (
        version.data_sha256
    )
    schema = DatasetSchema.from_json(backend.artifacts.get(version.artifacts[SCHEMA_FILE].key))
    assert sorted(schema.feature_names) == sorted(["amount", *view.feature_names])

    # Point in time: every row's features are what was known at its time, nothing later.
    joined = table.column("avg_order").to_pylist()
    later_values_existed = 0
    for row, got in zip(labels, joined, strict=True):
        at = datetime.fromisoformat(row["paid_at"])
        want = expected_avg(ingested, row["customer_id"], at, view.ttl)
        assert got == pytest.approx(want) if want is not None else got is None, row
        later_values_existed += any(
            r["customer_id"] == row["customer_id"] and datetime.fromisoformat(r["event_time"]) > at
            for r in ingested
        )
    assert later_values_existed > 100  # the check above had future values to leave out
    assert joined[-len(PROBES) :] == [want for _, want in PROBES]

    # Lineage: the views and versions, the label file, the history's write time.
    assert version.training_set is not None
    assert version.training_set["views"] == [
        {"name": VIEW, "version": view.version, "join_key": "customer_id"}
    ]
    assert version.training_set["entity_sha256"] == hashlib.sha256(data).hexdigest()
    assert version.training_set["entity_rows"] == len(labels)
    kept = f"features/labels/{MODEL}/{hashlib.sha256(data).hexdigest()}.csv"
    assert backend.data.get(kept) == data  # the label file itself, to build the set again
    run = backend.registry.get_run(MODEL, result.run_id)
    assert run.data_sha256 == version.data_sha256

    # Serving looks features up in the same views, found by the version's data hash.
    assert backend.artifacts.exists(manifest_key(version.data_sha256))
    resolver = EntityResolver(backend.online_features, backend.artifacts)
    assert resolver.views_for(version.data_sha256) == [view.spec()]
    router = ModelRouter(backend.registry, backend.artifacts, MODEL, "production")
    client = TestClient(create_app(router, online_features=backend.online_features))
    answer = client.post("/predict", json={"records": [{"customer_id": "c1", "amount": 20.0}]})
    assert answer.status_code == 200, answer.text
    unknown = client.post("/predict", json={"records": [{"customer_id": "zz", "amount": 20.0}]})
    assert unknown.status_code == 422 and VIEW in unknown.text

    # A retrain joins the label file again (the table it trained on is no label file).
    class Started:
        keys: list[str] = []

        def start(self, model: str, key: str, *, token: str, reason: str) -> PipelineStart:
            self.keys.append(key)
            return PipelineStart(execution=token, started=True)

    alarm = AlarmNotification(name="drift", state="ALARM")
    retrain(backend, Started(), MODEL, alarm, cooldown_seconds=3600)
    assert Started.keys == [kept]

    # Forgetting a customer cleans the label file, which holds the ids the joined table does
    # not, and the retrain it starts trains from the cleaned labels joined again.
    monkeypatch.setenv("MLOPS_FEATURE_REPO", feature_demo.__file__)
    get_settings.cache_clear()
    try:
        forgotten = forget(
            backend, MODEL, "customer_id", ["c1"], starter=LocalPipelineStarter(backend)
        )
    finally:
        get_settings.cache_clear()
    assert forgotten.retrain_source == kept
    cleaned = backend.data.get(kept).decode().splitlines()
    assert not [line for line in cleaned if line.startswith("c1,")]
    assert len(cleaned) - 1 == len(labels) - sum(r["customer_id"] == "c1" for r in labels)
    assert forgotten.retrain is not None
    retrained = backend.registry.get_run(MODEL, forgotten.retrain.execution)
    assert retrained.status in ("registered", "gate_failed"), retrained.reason
    assert retrained.source == backend.data.uri(kept)
    assert retrained.data_sha256 not in ("", version.data_sha256)


def _run_expecting_refusal(backend, steps, data: bytes):
    backend.data.put("incoming/payments.csv", data)
    result = LocalPipeline(backend, steps=steps).run(MODEL, "incoming/payments.csv", run_id="r1")
    assert result.status == "failed"
    assert [(s.name, s.status) for s in result.steps] == [("validate", "failed")]
    assert backend.registry.versions(MODEL) == []
    assert backend.registry.get_run(MODEL, "r1").status == "rejected_data"
    # Nothing dropped: the label file is in quarantine with a report saying why.
    quarantined = [k for k in backend.data.keys(f"quarantine/{MODEL}/") if k.endswith(".csv")]
    assert [backend.data.get(k) for k in quarantined] == [data]
    assert not backend.data.exists("incoming/payments.csv")
    return result.error or ""


def test_a_view_that_is_not_defined_stops_the_run_naming_it(backend, repo, ingested):
    steps = PipelineSteps(backend, feature_repo=repo)
    steps.save_config(features_config(views=[VIEW, "no_such_view"]))
    error = _run_expecting_refusal(backend, steps, _csv(label_rows(ingested)))
    assert "no feature view 'no_such_view'" in error and VIEW in error


def test_a_label_file_without_the_entity_key_stops_the_run_naming_it(backend, repo, ingested):
    steps = PipelineSteps(backend, feature_repo=repo)
    steps.save_config(features_config())
    rows = [{k: v for k, v in r.items() if k != "customer_id"} for r in label_rows(ingested)]
    error = _run_expecting_refusal(backend, steps, _csv(rows))
    assert "lacks column(s) ['customer_id']" in error


def test_a_label_row_naming_no_entity_stops_the_run(backend, repo, ingested):
    steps = PipelineSteps(backend, feature_repo=repo)
    steps.save_config(features_config())
    rows = label_rows(ingested)
    rows[3]["customer_id"] = ""
    error = _run_expecting_refusal(backend, steps, _csv(rows))
    assert "1 label row(s) have no customer_id" in error


def test_a_view_with_no_history_stops_the_run(backend, repo):
    steps = PipelineSteps(backend, feature_repo=repo)
    steps.save_config(features_config())
    error = _run_expecting_refusal(backend, steps, _csv(label_rows(source_rows())))
    assert "has no offline history" in error and repo.view(VIEW).version in error


def test_without_the_definitions_file_the_run_says_which_setting_is_missing(
    backend, ingested, monkeypatch
):
    monkeypatch.delenv("MLOPS_FEATURE_REPO", raising=False)
    get_settings.cache_clear()
    steps = PipelineSteps(backend)
    steps.save_config(features_config())
    error = _run_expecting_refusal(backend, steps, _csv(label_rows(ingested)))
    assert "MLOPS_FEATURE_REPO" in error


def test_the_definitions_file_named_by_the_setting_is_used(backend, ingested, monkeypatch):
    monkeypatch.setenv("MLOPS_FEATURE_REPO", feature_demo.__file__)
    get_settings.cache_clear()
    try:
        assert PipelineSteps(backend).feature_repo().view(VIEW).version == (
            load_repo(feature_demo.__file__).view(VIEW).version
        )
    finally:
        get_settings.cache_clear()


def test_the_joined_table_keeps_nulls_where_nothing_was_known(backend, repo, ingested):
    from mlops_template.core.features.labels import join_label_file

    rows = [
        {"customer_id": "probe", "paid_at": at.isoformat(), "amount": 1.0, "fraud": "no"}
        for at, _ in PROBES
    ]
    joined = join_label_file(
        OfflineStore(backend.data),
        repo,
        features_config().features_from,
        _csv(rows),
        "labels.csv",
    )
    table: pa.Table = joined.training_set.table
    assert table.column("avg_order").to_pylist() == [want for _, want in PROBES]
    assert "customer_id" not in table.column_names and "paid_at" not in table.column_names


def test_mlops_train_takes_a_label_file_and_names_a_missing_view(
    run, backend, ingested, tmp_path, monkeypatch
):
    monkeypatch.setenv("MLOPS_FEATURE_REPO", feature_demo.__file__)
    (tmp_path / "payments.csv").write_bytes(_csv(label_rows(ingested)))
    (tmp_path / "config.toml").write_text(
        'target = "fraud"\n\n[features_from]\nviews = ["customer_stats", "no_such_view"]\n'
        'event_time = "paid_at"\n'
    )
    out = run(
        "train",
        "--data",
        str(tmp_path / "payments.csv"),
        "--config",
        str(tmp_path / "config.toml"),
        "--model",
        MODEL,
    )
    assert out.exit_code != 0
    assert "no feature view 'no_such_view'" in " ".join(out.output.split())
    assert backend.registry.versions(MODEL) == []


def test_a_label_file_routed_to_sagemaker_is_refused_with_the_reason(backend, tmp_path):
    from mlops_template.core.settings import Settings

    steps = PipelineSteps(backend)
    steps.save_config(features_config())
    backend.data.put("incoming/payments.csv", b"customer_id,paid_at,amount,fraud\n")
    settings = Settings(home=tmp_path / "home", training_mode="sagemaker")
    with pytest.raises(ValueError, match=r"features_from.*SageMaker"):
        steps.route(MODEL, "incoming/payments.csv", "r1", settings)
    assert backend.data.exists("incoming/payments.csv")  # not claimed: Quarantine finds it
