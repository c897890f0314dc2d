"""Big files on Azure: the queue chain's train step hands a file over the functions' size limit
to an Azure ML command job, and its `collect` step waits for the job (its message sent again
with a visibility delay) and turns the job's model folder into the run that is evaluated and
registered, as the Step Functions definition does with SageMaker.

Storage is Azurite; the functions are the function app's own, called as the host calls them.
Azure ML has no emulator: its job client is replaced, at the launcher's `ml_client`, by
tooling/azure_emulation.py's EmulatedAzureML, which runs the job's own command (the real
training entry point) in a shell with the job's inputs downloaded from Azurite."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlops_template.core.artifacts import arrival_key
from mlops_template.core.chain import ChainMessage, queue_name
from mlops_template.core.pipeline import PipelineSteps
from mlops_template.infra.azure.azureml import job_name
from mlops_template.training.config import TrainingConfig
from mlops_template.training.datasets import TARGET, to_csv_bytes

MODEL = "big-azure"
LIMIT = 262_144  # MLOPS_PIPELINE_MEMORY_MB 513: (513 - 512) MiB / 4
AZUREML = {
    "MLOPS_AZUREML_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000",
    "MLOPS_AZUREML_RESOURCE_GROUP": "rg-mlops",
    "MLOPS_AZUREML_WORKSPACE": "mlw-mlops",
    "MLOPS_TRAINING_IMAGE_URI": "mlopsacr.azurecr.io/training:test",
    "MLOPS_PIPELINE_MEMORY_MB": "513",
    "MLOPS_REMOTE_TRAINING_POLL_SECONDS": "1",
}


@pytest.fixture(scope="module")
def deployed(azurite):
    from mlops_template.azure_functions import runtime
    from mlops_template.tooling.azure_emulation import FunctionHost, deployment

    with deployment(azurite, model=MODEL, env=AZUREML) as settings:
        assert settings.lambda_max_data_bytes == LIMIT
        PipelineSteps(runtime.backend()).save_config(config())
        yield FunctionHost(settings), runtime.backend(), runtime.training_launcher()


def config(**params: float) -> TrainingConfig:
    """A quick model (the job's shell and imports are what this module tests, not training)."""
    return TrainingConfig.model_validate(
        {
            "model_name": MODEL,
            "target": TARGET,
            "model": {"algorithm": "logistic_regression", "params": params},
            "gate": {"bootstrap_rounds": 100},
            "features": {"importance_max_features": 1},
        }
    )


def over_the_limit(frame, seed: int) -> bytes:
    """The rows three times, each copy's measurements nudged by a little noise (no duplicated
    rows), shuffled: over the limit, still a valid file."""
    rng = np.random.default_rng(seed)
    features = frame.columns.drop(TARGET)
    copies = []
    for _ in range(3):
        copy = frame.copy()
        copy[features] = copy[features] * rng.normal(1.0, 0.01, size=copy[features].shape)
        copies.append(copy)
    data = to_csv_bytes(pd.concat(copies).sample(frac=1.0, random_state=seed))
    assert len(data) > LIMIT
    return data


@pytest.fixture(scope="module")
def big_file(frame) -> bytes:
    return over_the_limit(frame, 3)


@pytest.fixture(scope="module")
def big_run(deployed, big_file):
    from mlops_template.tooling.azure_emulation import QueueChainPipeline

    host, backend, _ = deployed
    key = arrival_key("big.csv")
    backend.data.put(key, big_file)
    return QueueChainPipeline(host).run(MODEL, key)


def outcomes_of(host, run_id: str) -> list[dict]:
    return [o for o in host.delivered if o.get("run_id") == run_id]


def test_a_file_over_the_limit_trains_in_an_azure_ml_job_and_is_registered(deployed, big_run):
    host, backend, _ = deployed
    assert big_run.status == "registered", big_run.error
    steps = [(o["step"], o["status"]) for o in outcomes_of(host, big_run.run_id)]
    # train started the job; collect found it running at least once, then collected it.
    assert steps[:3] == [("validate", "next"), ("train", "next"), ("collect", "waiting")]
    assert steps[-3:] == [("collect", "next"), ("evaluate", "next"), ("register", "registered")]
    assert {s for s in steps[2:-3]} == {("collect", "waiting")}
    trained = next(o for o in outcomes_of(host, big_run.run_id) if o["step"] == "train")
    assert trained["next_step"] == "collect"
    assert trained["output"]["mode"] == "remote"
    assert trained["output"]["run"] is None  # nothing trained in the function
    assert trained["output"]["job"]["name"] == job_name(MODEL, big_run.run_id)
    [version] = backend.registry.versions(MODEL)
    assert version.version == big_run.version
    assert backend.registry.get_run(MODEL, big_run.run_id).status == "registered"


def test_the_registered_model_is_the_one_the_job_wrote(deployed, big_run, big_file):
    import hashlib

    _, backend, _ = deployed
    folder = f"azureml/{MODEL}/{job_name(MODEL, big_run.run_id)}/"
    written = backend.artifacts.keys(folder)
    assert {f"{folder}model.onnx", f"{folder}manifest.json"} <= set(written)
    version = backend.registry.get(MODEL, big_run.version)
    assert (
        version.model_sha256
        == hashlib.sha256(backend.artifacts.get(f"{folder}model.onnx")).hexdigest()
    )
    # The job trained on the validated copy of this very file.
    manifest = json.loads(backend.artifacts.get(f"{folder}manifest.json"))
    assert manifest["data_sha256"] == hashlib.sha256(big_file).hexdigest()  # as validated
    assert manifest["rows_train"] + manifest["rows_test"] == 3 * 569


def test_a_file_within_the_limit_trains_in_the_function(deployed, big_run, frame):
    from mlops_template.tooling.azure_emulation import QueueChainPipeline

    host, backend, _ = deployed
    small = to_csv_bytes(frame.sample(frac=0.5, random_state=5))
    assert len(small) <= LIMIT
    key = arrival_key("small.csv")
    backend.data.put(key, small)
    result = QueueChainPipeline(host).run(MODEL, key)
    assert result.status in ("registered", "rejected"), result.error
    steps = [o["step"] for o in outcomes_of(host, result.run_id)]
    assert steps[:3] == ["validate", "train", "evaluate"]
    trained = next(o for o in outcomes_of(host, result.run_id) if o["step"] == "train")
    assert trained["output"]["mode"] == "lambda"
    assert backend.artifacts.keys(f"azureml/{MODEL}/{job_name(MODEL, result.run_id)}/") == []


def test_a_failed_job_quarantines_the_file_with_its_report_and_registers_nothing(
    deployed, big_run, frame
):
    """The job's command fails (a parameter scikit-learn refuses, found only when the job
    trains): the run ends as an error, the file goes to quarantine with a report
    naming the training job, and the registry is as it was."""
    from mlops_template.tooling.azure_emulation import QueueChainPipeline

    host, backend, _ = deployed
    steps = PipelineSteps(backend)
    good = steps.load_config(MODEL)
    before = [v.model_dump() for v in backend.registry.versions(MODEL)]
    steps.save_config(config(C=-1.0))
    try:
        key = arrival_key("big-broken.csv")
        backend.data.put(key, over_the_limit(frame, 4))
        result = QueueChainPipeline(host).run(MODEL, key)
    finally:
        steps.save_config(good)
    assert result.status == "failed"
    assert result.error_type == "TrainingJobFailed"
    assert [v.model_dump() for v in backend.registry.versions(MODEL)] == before
    assert backend.registry.get_run(MODEL, result.run_id).status == "error"
    reports = [
        k for k in backend.data.keys("quarantine/") if k.endswith("big-broken.csv.report.json")
    ]
    assert len(reports) == 1
    report = json.loads(backend.data.get(reports[0]))
    assert report["step"] == "train (training job)"
    assert report["error"] == "TrainingJobFailed"
    assert queued(host, "collect") == []


def queued(host, step: str) -> list[ChainMessage]:
    client = host.queues[queue_name(host.settings.azure_pipeline_queue_prefix, step)]
    return [ChainMessage.model_validate_json(m.content) for m in client.peek_messages(32)]


def test_a_job_still_running_past_the_wait_limit_ends_the_run(deployed, big_run):
    """The collect step stops waiting once the job has outlived its time limit and the grace
    for the cluster to start: the run ends as an error and the job is not looked at again."""
    import time

    from mlops_template.core.chain import QUEUED_GRACE_SECONDS

    host, backend, launcher = deployed
    dataset = backend.registry.get_run(MODEL, big_run.run_id)
    job = launcher.start(
        model=MODEL,
        run_id="stuck-run",
        dataset_uri=backend.data.uri(f"validated/{MODEL}/{dataset.data_sha256}.csv"),
        schema_uri="",
        config_json=config().model_dump_json(),
    )
    PipelineSteps(backend).update_run(MODEL, "stuck-run")
    limit = host.settings.training_max_runtime_seconds + QUEUED_GRACE_SECONDS
    message = ChainMessage(
        step="collect",
        state={
            "model": MODEL,
            "key": "incoming/stuck.csv",
            "run_id": "stuck-run",
            "training": {"mode": "remote", "job": job.model_dump(mode="json")},
        },
        waiting_since=time.time() - limit - 60,
    )
    host.queues[queue_name(host.settings.azure_pipeline_queue_prefix, "collect")].send_message(
        message.model_dump_json()
    )
    [outcome] = host.drain()
    assert outcome["status"] == "failed"
    assert outcome["error_type"] == "TrainingJobFailed"
    assert "still InProgress" in outcome["error"]
    assert backend.registry.get_run(MODEL, "stuck-run").status == "error"
    assert queued(host, "collect") == []
