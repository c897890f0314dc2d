"""Serving under faults: an unreachable registry, a missing or tampered artifact, a capture
store that fails, and the guarantee that the serving path never unpickles anything."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import boto3
from fastapi.testclient import TestClient

from mlops_template.core.serving.app import create_app
from mlops_template.core.serving.router import ModelRouter
from tests.integration.conftest import MODEL, register


def client_for(backend):
    router = ModelRouter(
        backend.registry,
        backend.artifacts,
        MODEL,
        "production",
        refresh_seconds=0,
        metrics=backend.metrics,
    )
    return TestClient(
        create_app(router, predictions=backend.predictions, metrics=backend.metrics)
    ), router


def test_an_unreachable_registry_does_not_stop_a_loaded_model(backend, trained, records):
    version = register(backend, trained)
    backend.registry.promote(MODEL, version.version, "production", actor="t")
    client, router = client_for(backend)
    assert client.post("/predict", json={"records": records[:2]}).status_code == 200

    def unreachable(*_args, **_kwargs):
        raise ConnectionError("registry endpoint timed out")

    router.primary.registry.store.alias = unreachable  # what a network partition looks like
    for _ in range(5):
        answer = client.post("/predict", json={"records": records[:2]})
        assert answer.status_code == 200 and answer.json()["version"] == version.version
    health = client.get("/health").json()
    assert health["status"] == "ok" and "registry unreachable" in health["reason"]
    assert len([p for p in backend.metrics.read("RegistryUnavailable")]) >= 5


def test_a_deleted_registry_table_does_not_stop_a_loaded_model_on_aws(
    aws, aws_backend, trained, typed_frame, schema
):
    version = register(aws_backend, trained)
    aws_backend.registry.promote(MODEL, version.version, "production", actor="t")
    client, _ = client_for(aws_backend)
    records = typed_frame[schema.feature_names].head(2).to_dict(orient="records")
    assert client.post("/predict", json={"records": records}).json()["version"] == version.version
    boto3.client("dynamodb").delete_table(TableName=aws.registry_table)
    answer = client.post("/predict", json={"records": records})
    assert answer.status_code == 200 and answer.json()["version"] == version.version
    assert "ResourceNotFoundException" in client.get("/health").json()["reason"]


def no_space_left(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_fails_no_prediction_and_feedback_says_so(
    backend, trained, records, monkeypatch
):
    """With a full disk /predict and /feedback answered 500 while /health said 200."""
    version = register(backend, trained)
    backend.registry.promote(MODEL, version.version, "production", actor="t")
    client, _ = client_for(backend)
    monkeypatch.setattr(backend.predictions, "record", no_space_left)
    answer = client.post("/predict", json={"records": records[:2]})
    assert answer.status_code == 200 and len(answer.json()["predictions"]) == 2
    capture = client.get("/health").json()["capture"]
    assert capture["status"] == "failing" and capture["errors"] == 1
    assert "No space left on device" in capture["reason"]
    assert [p["value"] for p in backend.metrics.read("CaptureErrors")] == [1]
    monkeypatch.setattr(backend.predictions, "add_feedback", no_space_left)
    pid = answer.json()["predictions"][0]["prediction_id"]
    feedback = client.post("/feedback", json={"prediction_id": pid, "label": "benign"})
    assert feedback.status_code == 503 and "OSError" in feedback.json()["detail"]
    monkeypatch.setattr(backend.metrics, "put", no_space_left)  # the metrics file too
    assert client.post("/predict", json={"records": records[:2]}).status_code == 200
    monkeypatch.undo()  # space again: capture recovers, the count of failures stays
    assert client.post("/predict", json={"records": records[:2]}).status_code == 200
    assert client.get("/health").json()["capture"] == {"status": "ok", "errors": 2, "reason": None}


def test_a_deleted_capture_stream_fails_no_prediction_on_aws(
    aws, aws_backend, trained, typed_frame, schema
):
    """With the Firehose delivery stream gone, /predict still answers 200 and the failed capture
    is counted; feedback (its own table) still lands, and says so when that table is gone."""
    version = register(aws_backend, trained)
    aws_backend.registry.promote(MODEL, version.version, "production", actor="t")
    client, _ = client_for(aws_backend)
    records = typed_frame[schema.feature_names].head(2).to_dict(orient="records")
    pid = client.post("/predict", json={"records": records}).json()["predictions"][0]
    assert client.get("/health").json()["capture"]["errors"] == 0
    boto3.client("firehose").delete_delivery_stream(DeliveryStreamName=aws.capture_stream)
    answer = client.post("/predict", json={"records": records})
    assert answer.status_code == 200 and answer.json()["version"] == version.version
    health = client.get("/health")
    assert health.status_code == 200
    capture = health.json()["capture"]
    assert capture["status"] == "failing" and capture["errors"] == 1
    assert "ResourceNotFoundException" in capture["reason"]
    errors = boto3.client("cloudwatch").list_metrics(
        Namespace=aws.metrics_namespace, MetricName="CaptureErrors"
    )["Metrics"]
    assert errors, "the failed capture is counted in a metric"
    label = {"prediction_id": pid["prediction_id"], "label": "benign"}
    assert client.post("/feedback", json=label).status_code == 202
    boto3.client("dynamodb").delete_table(TableName=aws.predictions_table)
    label = {"prediction_id": answer.json()["predictions"][0]["prediction_id"], "label": "benign"}
    assert client.post("/feedback", json=label).status_code == 503


def test_the_serving_path_never_unpickles(tmp_path, trained):
    """An audit hook fails the process if anything unpickles an object while the API loads a
    model and serves predictions."""
    from mlops_template.core.settings import Settings
    from mlops_template.infra.local import local_backend

    backend = local_backend(Settings(home=tmp_path / "home"))
    version = register(backend, trained)
    backend.registry.promote(MODEL, version.version, "production", actor="t")
    script = f"""
import sys
def refuse(event, args):
    if event == "pickle.find_class":
        raise RuntimeError(f"unpickling on the serving path: {{args}}")
sys.addaudithook(refuse)
from fastapi.testclient import TestClient
from mlops_template.core.serving.app import create_app
from mlops_template.infra.local import local_backend
from mlops_template.core.serving.router import ModelRouter
from mlops_template.core.settings import Settings
backend = local_backend(Settings(home={str(tmp_path / "home")!r}))
router = ModelRouter(backend.registry, backend.artifacts, {MODEL!r}, "production")
client = TestClient(create_app(router, predictions=backend.predictions))
schema = client.get("/model").json()["schema"]
record = {{c["name"]: (c["mean"] if c["kind"] == "numeric" else "") for c in schema["columns"]}}
answer = client.post("/predict", json={{"records": [record] * 20}})
assert answer.status_code == 200, answer.text
print("served", answer.json()["version"], "loaded modules:",
      sorted(m for m in ("pickle", "joblib", "sklearn") if m in sys.modules))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"served {version.version}" in result.stdout
    assert "joblib" not in result.stdout and "sklearn" not in result.stdout
