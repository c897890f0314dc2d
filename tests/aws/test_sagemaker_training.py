"""Training in SageMaker: the job is created with the script-mode entry point, its output is
collected into a run. moto records the job and reports Completed without running it, so the test
runs the entry point itself and puts model.tar.gz where the job would."""

from __future__ import annotations

import io
import json
import tarfile

import boto3
import pytest

from mlops_template.core.pipeline import TrainingJobFailed
from mlops_template.functions import evaluate, register, runtime, train, validate
from mlops_template.training.sagemaker_entry import main as sagemaker_main

from .conftest import MODEL


@pytest.fixture
def sagemaker_mode(monkeypatch, configured):
    monkeypatch.setenv("MLOPS_TRAINING_MODE", "sagemaker")
    monkeypatch.setenv("MLOPS_SAGEMAKER_ROLE_ARN", "arn:aws:iam::123456789012:role/mlops-training")
    monkeypatch.setenv(
        "MLOPS_TRAINING_IMAGE_URI",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-training:abc123",
    )
    runtime.reset()
    return configured


def run_job_locally(tmp_path, monkeypatch, data_bucket, job, csv_bytes):
    """What the SageMaker container does: channels in, model dir out, packed as model.tar.gz."""
    channel, schema_channel, model_dir = tmp_path / "train", tmp_path / "schema", tmp_path / "model"
    channel.mkdir()
    schema_channel.mkdir()
    (channel / "data.csv").write_bytes(csv_bytes)
    s3 = boto3.client("s3")
    schema = s3.get_object(Bucket=data_bucket, Key=f"schemas/{MODEL}.json")["Body"].read()
    (schema_channel / "schema.json").write_bytes(schema)
    monkeypatch.setenv("SM_CHANNEL_TRAIN", str(channel))
    monkeypatch.setenv("SM_CHANNEL_SCHEMA", str(schema_channel))
    monkeypatch.setenv("SM_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("SM_HPS", json.dumps(job["HyperParameters"]))
    assert sagemaker_main([]) == 0
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in model_dir.iterdir():
            tar.add(path, arcname=path.name)
    return buffer.getvalue()


def test_the_job_is_created_and_its_output_becomes_a_registered_version(
    sagemaker_mode, aws, csv_bytes, context, tmp_path, monkeypatch
):
    backend = sagemaker_mode
    backend.data.put("incoming/d.csv", csv_bytes)
    state = {"model": MODEL, "key": "incoming/d.csv", "run_id": "run-sm-1"}
    state["validation"] = validate.handler(state, context)
    state["training"] = train.handler(state, context)
    assert state["training"]["mode"] == "sagemaker"
    name = state["training"]["job"]["name"]

    job = boto3.client("sagemaker").describe_training_job(TrainingJobName=name)
    assert job["AlgorithmSpecification"]["ContainerEntrypoint"] == [
        "python",
        "-m",
        "mlops_template.training.sagemaker_entry",
    ]
    assert job["RoleArn"].endswith("role/mlops-training")
    assert job["EnableNetworkIsolation"] is True
    assert json.loads(job["HyperParameters"]["config"])["target"] == "diagnosis"
    channels = {
        c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in job["InputDataConfig"]
    }
    assert channels["train"] == state["validation"]["dataset"]["uri"]
    assert channels["schema"] == f"s3://{aws.data_bucket}/schemas/{MODEL}.json"

    archive = run_job_locally(tmp_path, monkeypatch, aws.data_bucket, job, csv_bytes)
    output = job["ModelArtifacts"]["S3ModelArtifacts"]
    bucket, key = output.removeprefix("s3://").split("/", 1)
    assert bucket == aws.artifact_bucket
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=archive)

    state["training"] = train.collect_handler(state, context)
    assert state["training"]["run"]["run_id"] == "run-sm-1"
    state["evaluation"] = evaluate.handler(state, context)
    state["registered"] = register.handler(state, context)
    version = backend.registry.get(MODEL, state["registered"]["version"])
    assert version.run_id == "run-sm-1" and version.gate_passed


def test_a_failed_training_job_fails_the_collect_step(sagemaker_mode, csv_bytes, context):
    from moto.sagemaker.models import sagemaker_backends

    backend = sagemaker_mode
    backend.data.put("incoming/d.csv", csv_bytes)
    state = {"model": MODEL, "key": "incoming/d.csv", "run_id": "run-sm-fail"}
    state["validation"] = validate.handler(state, context)
    state["training"] = train.handler(state, context)
    name = state["training"]["job"]["name"]
    fake = sagemaker_backends["123456789012"]["us-east-1"].training_jobs[name]
    fake.training_job_status = "Failed"
    fake.failure_reason = "AlgorithmError: out of memory"
    with pytest.raises(TrainingJobFailed, match="out of memory"):
        train.collect_handler(state, context)
    assert backend.registry.versions(MODEL) == []


def test_a_job_that_wrote_nothing_fails_clearly(sagemaker_mode, csv_bytes, context):
    backend = sagemaker_mode
    backend.data.put("incoming/d.csv", csv_bytes)
    state = {"model": MODEL, "key": "incoming/d.csv", "run_id": "run-sm-empty"}
    state["validation"] = validate.handler(state, context)
    state["training"] = train.handler(state, context)
    with pytest.raises(TrainingJobFailed, match="reported Completed but wrote no s3://"):
        train.collect_handler(state, context)
