"""Big files through the real pipeline definition on moto: the Route state sends a file over the
Lambda limit to a SageMaker Processing job (validation) and a Training job, run by the emulator
in this process with the same entry points the container runs; a step that dies leaves the file
in quarantine with a report that says so."""

from __future__ import annotations

import json

import boto3
import pytest

from mlops_template.core.pipeline import PipelineSteps
from mlops_template.functions import runtime
from mlops_template.infra.aws import aws_backend as build_backend
from mlops_template.tooling.emulation import REGION, AslPipeline
from mlops_template.training.config import TrainingConfig
from mlops_template.training.datasets import TARGET

MODEL = "breast-cancer"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-training:abc123"
ROLE = "arn:aws:iam::123456789012:role/mlops-sagemaker-training"


@pytest.fixture
def big_files(aws, monkeypatch):
    """The functions get 128 MB: below the runtime's own share, so every file is over the limit
    (lambda_max_data_bytes is 0) and goes to SageMaker."""
    for key, value in {
        "MLOPS_PIPELINE_MEMORY_MB": "128",
        "MLOPS_SAGEMAKER_ROLE_ARN": ROLE,
        "MLOPS_TRAINING_IMAGE_URI": IMAGE,
        "MLOPS_SAGEMAKER_INSTANCE_TYPE": "ml.m5.4xlarge",
        "MLOPS_PROCESSING_INSTANCE_TYPE": "ml.r5.2xlarge",
    }.items():
        monkeypatch.setenv(key, value)
    runtime.reset()
    assert runtime.settings().lambda_max_data_bytes == 0
    return aws


def pipeline(settings, *, target=TARGET):
    settings = runtime.settings()  # what the functions read: the fixture's, and the test's
    backend = build_backend(settings)
    PipelineSteps(backend).save_config(TrainingConfig(model_name=MODEL, target=target))
    return AslPipeline(settings, backend)


def scheduled(run, state):
    """The request a task state sent (its TaskScheduled event), as the definition built it."""
    sfn = boto3.client("stepfunctions", region_name=REGION)
    arn = next(
        e["executionArn"]
        for e in sfn.list_executions(stateMachineArn=run.state_machine_arn)["executions"]
        if e["name"] == state[0]
    )
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    current = ""
    for event in events:
        if event["type"].endswith("StateEntered"):
            current = event["stateEnteredEventDetails"]["name"]
        if event["type"] == "TaskScheduled" and current == state[1]:
            return event["taskScheduledEventDetails"]
    raise AssertionError(f"{state[1]} scheduled no task")


def test_a_file_over_the_limit_is_validated_and_trained_on_sagemaker_and_registered(
    big_files, csv_bytes
):
    run = pipeline(big_files)
    run.backend.data.put("incoming/big.csv", csv_bytes)
    result = run.run(MODEL, "incoming/big.csv", run_id="run-big")
    assert result.status == "registered", (result.error, result.transitions)
    assert result.transitions[:8] == [
        "Route",
        "WhichEngine",
        "ValidateOnSageMaker",
        "DescribeValidationJob",
        "IsValidationJobDone",
        "CollectValidation",
        "TrainOnSageMaker",
        "DescribeTrainingJob",
    ]
    assert "Validate" not in result.transitions and "Train" not in result.transitions
    version = run.backend.registry.get(MODEL, result.version)
    assert version.run_id == "run-big" and version.gate_passed

    data = f"s3://{big_files.data_bucket}"
    processing = scheduled(run, ("run-big", "ValidateOnSageMaker"))
    assert processing["resource"] == "createProcessingJob"
    request = json.loads(processing["parameters"])
    assert request["AppSpecification"]["ImageUri"] == IMAGE
    assert request["AppSpecification"]["ContainerEntrypoint"][-1] == (
        "mlops_template.training.processing_entry"
    )
    assert request["ProcessingResources"]["ClusterConfig"]["InstanceType"] == "ml.r5.2xlarge"
    inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in request["ProcessingInputs"]}
    assert inputs == {
        "data": f"{data}/claimed/{MODEL}/run-big/big.csv",
        "contract": f"{data}/jobs/{MODEL}/run-big/contract",
    }
    assert request["RoleArn"] == ROLE
    assert request["NetworkConfig"]["EnableNetworkIsolation"] is True

    sm = boto3.client("sagemaker", region_name=REGION)
    name = json.loads(scheduled(run, ("run-big", "TrainOnSageMaker"))["parameters"])[
        "TrainingJobName"
    ]
    job = sm.describe_training_job(TrainingJobName=name)
    assert job["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    assert job["ResourceConfig"]["InstanceType"] == "ml.m5.4xlarge"
    channels = {
        c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in job["InputDataConfig"]
    }
    assert channels == {
        "train": f"{data}/validated/{MODEL}/{version.data_sha256}.csv",
        "schema": f"{data}/schemas/{MODEL}.json",
    }
    assert job["EnableNetworkIsolation"] is True and job["RoleArn"] == ROLE
    # The claim is gone: the file lives on as the validated copy only.
    assert run.backend.data.keys(f"claimed/{MODEL}/") == []
    assert run.backend.data.keys("incoming/") == []


def test_a_small_file_stays_in_lambda_and_a_forced_mode_wins_over_the_size(
    aws, csv_bytes, monkeypatch
):
    run = pipeline(aws)
    run.backend.data.put("incoming/small.csv", csv_bytes)
    result = run.run(MODEL, "incoming/small.csv", run_id="run-small")
    assert result.status == "registered", result.error
    assert result.transitions[:4] == ["Route", "WhichEngine", "Validate", "Train"]

    monkeypatch.setenv("MLOPS_TRAINING_MODE", "sagemaker")
    monkeypatch.setenv("MLOPS_SAGEMAKER_ROLE_ARN", ROLE)
    monkeypatch.setenv("MLOPS_TRAINING_IMAGE_URI", IMAGE)
    runtime.reset()
    run.backend.data.put("incoming/small2.csv", csv_bytes)
    forced = run.run(MODEL, "incoming/small2.csv", run_id="run-forced")
    assert forced.status == "registered", forced.error
    assert "ValidateOnSageMaker" in forced.transitions


def test_a_first_big_file_that_fails_validation_leaves_no_schema(big_files, csv_bytes):
    run = pipeline(big_files)
    bad = csv_bytes.replace(b"benign", b"", 200)  # too many missing labels
    run.backend.data.put("incoming/first.csv", bad)
    result = run.run(MODEL, "incoming/first.csv", run_id="run-first-bad")
    assert result.status == "failed" and result.error_type == "DataValidationError"
    assert result.transitions[-3:] == ["CollectValidation", "RecordFailure", "Failed"]
    assert run.backend.data.keys("schemas/") == []
    quarantined = run.backend.data.keys(f"quarantine/{MODEL}/")
    assert any(k.endswith("first.csv") for k in quarantined)
    assert run.backend.registry.versions(MODEL) == []
    assert run.backend.registry.get_run(MODEL, "run-first-bad").status == "rejected_data"


def quarantine_report(backend) -> dict:
    keys = backend.data.keys(f"quarantine/{MODEL}/")
    (report,) = [k for k in keys if k.endswith(".report.json")]
    assert report.removesuffix(".report.json") in keys, "the file is beside its report"
    return json.loads(backend.data.get(report))


def test_a_validate_function_out_of_memory_quarantines_the_file_with_a_report(
    aws, csv_bytes, monkeypatch
):
    from mlops_template.core import pipeline as core_pipeline

    def out_of_memory(*args, **kwargs):
        raise MemoryError("Runtime exited with error: signal: killed")

    monkeypatch.setattr(core_pipeline, "validate_data", out_of_memory)
    run = pipeline(aws)
    run.backend.data.put("incoming/huge.csv", csv_bytes)
    result = run.run(MODEL, "incoming/huge.csv", run_id="run-oom")
    assert result.status == "failed"
    assert result.transitions[-5:] == [
        "Validate",
        "ValidateDidNotFinish",
        "Quarantine",
        "RecordFailure",
        "Failed",
    ]
    report = quarantine_report(run.backend)
    assert report["step"] == "validate" and report["error"] == "MemoryError"
    assert report["verdict"].startswith("the validate step ran out of memory")
    assert report["size_bytes"] == len(csv_bytes)
    assert run.backend.data.keys("incoming/") == [] and run.backend.data.keys("claimed/") == []
    assert run.backend.data.keys("schemas/") == []
    assert run.backend.registry.versions(MODEL) == []
    assert run.backend.registry.get_run(MODEL, "run-oom").status == "error"


def test_a_processing_job_out_of_memory_quarantines_the_file_with_a_report(
    big_files, csv_bytes, monkeypatch
):
    from mlops_template.training import processing_entry

    def out_of_memory(*args, **kwargs):
        raise MemoryError("the instance ran out of memory")

    monkeypatch.setattr(processing_entry, "validate_data", out_of_memory)
    run = pipeline(big_files)
    run.backend.data.put("incoming/huge.csv", csv_bytes)
    result = run.run(MODEL, "incoming/huge.csv", run_id="run-job-oom")
    assert result.status == "failed"
    assert result.transitions[-6:] == [
        "IsValidationJobDone",
        "ValidationJobFailed",
        "ValidationJobDidNotFinish",
        "Quarantine",
        "RecordFailure",
        "Failed",
    ]
    report = quarantine_report(run.backend)
    assert report["step"] == "validate (SageMaker Processing)"
    assert "ran out of memory" in report["verdict"] and "MemoryError" in report["cause"]
    assert run.backend.data.keys("claimed/") == [] and run.backend.data.keys("incoming/") == []
    assert run.backend.registry.versions(MODEL) == []
