"""Training in SageMaker started by the launcher (`mlops train --on sagemaker`, and the pipeline's
collect step): the job is created with the script-mode entry point and its output collected into
a run. moto records the job without running a container; the emulator (tooling/emulation.py)
runs the same entry point in this process against the same S3 and writes model.tar.gz where the
job would. Big files in the pipeline: tests/e2e/test_big_files.py."""

from __future__ import annotations

import json

import boto3
import pytest

from mlops_template.core.pipeline import PipelineSteps, TrainingJobFailed
from mlops_template.functions import evaluate, register, runtime, train, validate

from .conftest import MODEL


@pytest.fixture
def sagemaker_mode(monkeypatch, configured):
    monkeypatch.setenv("MLOPS_SAGEMAKER_ROLE_ARN", "arn:aws:iam::123456789012:role/mlops-training")
    monkeypatch.setenv(
        "MLOPS_TRAINING_IMAGE_URI",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-training:abc123",
    )
    runtime.reset()
    return configured


def start_job(backend, state, context):
    state["validation"] = validate.handler(state, context)
    dataset = PipelineSteps(backend).latest_dataset(MODEL)
    job = PipelineSteps(backend).start_training(
        runtime.training_launcher(), MODEL, dataset, state["run_id"]
    )
    state["training"] = {"mode": "sagemaker", "job": job.model_dump(mode="json")}
    return job.name


def test_the_job_is_created_and_its_output_becomes_a_registered_version(
    sagemaker_mode, aws, csv_bytes, context
):
    backend = sagemaker_mode
    backend.data.put("incoming/d.csv", csv_bytes)
    state = {"model": MODEL, "key": "incoming/d.csv", "run_id": "run-sm-1"}
    name = start_job(backend, state, context)

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
    output = job["ModelArtifacts"]["S3ModelArtifacts"]
    assert output.startswith(f"s3://{aws.artifact_bucket}/sagemaker/{MODEL}/")

    state["training"] = train.collect_handler(state, context)
    assert state["training"]["run"]["run_id"] == "run-sm-1"
    state["evaluation"] = evaluate.handler(state, context)
    state["registered"] = register.handler(state, context)
    version = backend.registry.get(MODEL, state["registered"]["version"])
    assert version.run_id == "run-sm-1" and version.gate_passed


def test_a_failed_training_job_fails_the_collect_step(
    sagemaker_mode, csv_bytes, context, monkeypatch
):
    from mlops_template.training import sagemaker_entry

    def out_of_memory(*args, **kwargs):
        raise MemoryError("out of memory")

    monkeypatch.setattr(sagemaker_entry, "train", out_of_memory)
    backend = sagemaker_mode
    backend.data.put("incoming/d.csv", csv_bytes)
    state = {"model": MODEL, "key": "incoming/d.csv", "run_id": "run-sm-fail"}
    start_job(backend, state, context)
    with pytest.raises(TrainingJobFailed, match="AlgorithmError: MemoryError: out of memory"):
        train.collect_handler(state, context)
    assert backend.registry.versions(MODEL) == []


def test_a_job_that_wrote_nothing_fails_clearly(sagemaker_mode, csv_bytes, context):
    backend = sagemaker_mode
    backend.data.put("incoming/d.csv", csv_bytes)
    state = {"model": MODEL, "key": "incoming/d.csv", "run_id": "run-sm-empty"}
    name = start_job(backend, state, context)
    job = boto3.client("sagemaker").describe_training_job(TrainingJobName=name)
    bucket, key = job["ModelArtifacts"]["S3ModelArtifacts"].removeprefix("s3://").split("/", 1)
    boto3.client("s3").delete_object(Bucket=bucket, Key=key)
    with pytest.raises(TrainingJobFailed, match="reported Completed but wrote no s3://"):
        train.collect_handler(state, context)
