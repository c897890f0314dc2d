"""Optional MLflow: runs logged to a local file-based MLflow store and read back through MLflow's
own client; a tracker that fails never fails a run; without MLFLOW_TRACKING_URI, MLflow is not
even imported."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest

from mlops_template.core.artifacts import run_key
from mlops_template.core.pipeline import LocalPipeline, PipelineSteps
from mlops_template.core.ports import TrackerUnavailable
from mlops_template.core.records import ArtifactRef, RunRecord
from mlops_template.core.settings import Settings
from mlops_template.infra import build_backend
from mlops_template.training.config import TrainingConfig
from mlops_template.training.datasets import TARGET

MODEL = "bc"

# In `dev` (so on CI); only a bare install without the extra skips what needs MLflow itself.
needs_mlflow = pytest.mark.skipif(
    find_spec("mlflow") is None, reason="the `mlflow` extra is not installed"
)


@pytest.fixture
def tracking_uri(tmp_path, monkeypatch) -> str:
    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    # MLflow 3 keeps its file store in maintenance mode: this opts in (a team's server needs no
    # such thing).
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    return uri


@pytest.fixture
def backend(tmp_path, tracking_uri):
    """The local backend as the CLI builds it, from the environment: MLFLOW_TRACKING_URI is set."""
    backend = build_backend(Settings(home=tmp_path / "home"))
    assert [type(t).__name__ for t in backend.trackers] == ["MlflowTracker"]
    return backend


@pytest.fixture
def client(tracking_uri):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def mlflow_runs(client, model: str = MODEL) -> dict[str, object]:
    """MLflow's runs of an experiment, by our run id (their run name)."""
    experiment = client.get_experiment_by_name(model)
    assert experiment is not None, f"no MLflow experiment {model!r}"
    runs = client.search_runs([experiment.experiment_id])
    return {run.info.run_name: run for run in runs}


def downloaded_sha256(client, mlflow_run_id: str, name: str, folder: Path) -> str:
    path = client.download_artifacts(mlflow_run_id, name, str(folder))
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@needs_mlflow
def test_a_registered_run_and_a_refused_one_are_in_mlflow_with_params_metrics_and_model(
    backend, client, csv_bytes, tmp_path
):
    steps = PipelineSteps(backend)
    steps.save_config(TrainingConfig(model_name=MODEL, target=TARGET))
    backend.data.put("incoming/day1.csv", csv_bytes)
    good = LocalPipeline(backend).run(MODEL, "incoming/day1.csv", run_id="good")
    assert good.status == "registered", good.error
    strict = {"model_name": MODEL, "target": TARGET, "gate": {"min_lift_over_baseline": 0.9}}
    steps.save_config(TrainingConfig.model_validate(strict))
    backend.data.put("incoming/day2.csv", csv_bytes)
    refused = LocalPipeline(backend).run(MODEL, "incoming/day2.csv", run_id="strict")
    assert refused.status == "rejected"

    runs = mlflow_runs(client)
    assert sorted(runs) == ["good", "strict"]

    record = backend.registry.get_run(MODEL, "good")
    version = backend.registry.get(MODEL, good.version)
    logged = runs["good"]
    assert logged.info.status == "FINISHED"
    assert logged.data.params["algorithm"] == record.config["model"]["algorithm"]
    assert logged.data.params == {
        k: str(v) for k, v in record.hyperparameters.items() if v is not None
    }
    assert logged.data.metrics == {
        **record.metrics,
        **{f"baseline.{k}": v for k, v in record.baseline_metrics.items()},
    }
    assert logged.data.metrics["roc_auc"] > 0.95
    tags = logged.data.tags
    assert tags["mlops.run_id"] == "good" and tags["mlops.status"] == "registered"
    assert tags["mlops.data_sha256"] == version.data_sha256 == record.data_sha256
    assert tags["mlops.code_version"] == version.code_version and tags["mlops.code_version"]
    assert tags["mlops.version"] == str(good.version)
    # The model MLflow holds is byte for byte the registered version's.
    assert (
        downloaded_sha256(client, logged.info.run_id, "model.onnx", tmp_path / "good")
        == version.artifacts["model.onnx"].sha256
    )

    logged = runs["strict"]
    record = backend.registry.get_run(MODEL, "strict")
    assert logged.info.status == "FINISHED"  # trained and judged: the gate's refusal is in tags
    assert logged.data.tags["mlops.status"] == "gate_failed"
    assert "beats the baseline" in logged.data.tags["mlops.reason"]
    assert logged.data.tags["mlops.reason"] == record.reason
    assert "mlops.version" not in logged.data.tags
    assert logged.data.metrics["accuracy"] == record.metrics["accuracy"]
    refused_model = backend.artifacts.get(run_key(MODEL, "strict", "model.onnx"))
    assert (
        downloaded_sha256(client, logged.info.run_id, "model.onnx", tmp_path / "strict")
        == hashlib.sha256(refused_model).hexdigest()
    )


@needs_mlflow
def test_a_run_rejected_on_its_data_is_logged_as_failed_without_a_model(backend, client, schema):
    PipelineSteps(backend).save_schema(MODEL, schema)
    backend.data.put("incoming/bad.csv", b"mean radius,target\nnot a number,benign\n")
    result = LocalPipeline(backend).run(MODEL, "incoming/bad.csv", run_id="bad")
    assert result.status == "failed"
    logged = mlflow_runs(client)["bad"]
    assert logged.info.status == "FAILED"
    assert logged.data.tags["mlops.status"] == "rejected_data"
    assert (
        logged.data.tags["mlops.data_sha256"] == backend.registry.get_run(MODEL, "bad").data_sha256
    )
    names = [f.path for f in client.list_artifacts(logged.info.run_id)]
    assert names == ["mlops_run.json"]  # the record, and no model


@needs_mlflow
def test_a_retried_end_updates_the_one_mlflow_run(backend, client):
    steps = PipelineSteps(backend)
    model = b"not really onnx"
    key = run_key(MODEL, "again", "model.onnx")
    digest = backend.artifacts.put(key, model)
    refs = {"model.onnx": ArtifactRef(key=key, uri=key, sha256=digest, size_bytes=len(model))}
    config = {"model": {"algorithm": "random_forest", "params": {"max_depth": 4}}}
    steps.record_run(RunRecord(model=MODEL, run_id="again", actor="ci"))
    for accuracy in (0.5, 0.75):  # the evaluate step, retried
        steps.end_run(
            MODEL,
            "again",
            "gate_failed",
            "accuracy too low",
            artifacts=refs,
            config=config,
            metrics={"accuracy": accuracy},
        )
    runs = mlflow_runs(client)
    assert list(runs) == ["again"]
    logged = runs["again"]
    assert logged.data.metrics == {"accuracy": 0.75}
    assert logged.data.params == {"algorithm": "random_forest", "params.max_depth": "4"}
    assert logged.data.tags["mlops.actor"] == "ci"
    assert [f.path for f in client.list_artifacts(logged.info.run_id)] == [
        "mlops_run.json",
        "model.onnx",
    ]


class Broken:
    def run_ended(self, run, artifacts):
        raise ConnectionError("tracking server unreachable")


@needs_mlflow
def test_a_tracker_that_fails_does_not_fail_the_run(backend, client, csv_bytes, caplog):
    backend.trackers.insert(0, Broken())
    PipelineSteps(backend).save_config(TrainingConfig(model_name=MODEL, target=TARGET))
    backend.data.put("incoming/day1.csv", csv_bytes)
    with caplog.at_level(logging.WARNING, logger="mlops_template.core.pipeline"):
        result = LocalPipeline(backend).run(MODEL, "incoming/day1.csv", run_id="despite")
    assert result.status == "registered", result.error
    assert backend.registry.get_run(MODEL, "despite").status == "registered"
    assert "run despite of bc was not logged to Broken: ConnectionError" in caplog.text
    assert list(mlflow_runs(client)) == ["despite"]  # the next tracker still logged it


def test_a_set_uri_without_mlflow_installed_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if not installed
    settings = Settings(home=tmp_path / "home", mlflow_tracking_uri="file:///nowhere")
    with pytest.raises(TrackerUnavailable) as caught:
        build_backend(settings)
    assert str(caught.value) == (
        "MLFLOW_TRACKING_URI is set but MLflow is not installed: pip install '.[mlflow]'"
    )


def test_without_the_uri_there_is_no_tracker_and_mlflow_is_not_imported(tmp_path):
    env = {k: v for k, v in os.environ.items() if "MLFLOW" not in k}
    env["MLOPS_HOME"] = str(tmp_path / "home")
    script = (
        "import sys\n"
        "from mlops_template.core.pipeline import PipelineSteps\n"
        "from mlops_template.core.settings import Settings\n"
        "from mlops_template.infra import build_backend\n"
        "backend = build_backend(Settings())\n"
        "PipelineSteps(backend).end_run('bc', 'r1', 'error', 'boom')\n"
        "print(len(backend.trackers), 'mlflow' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["0", "False"]
