"""`mlops` with MLOPS_BACKEND=aws: the same commands on S3, DynamoDB, SageMaker, Step Functions."""

from __future__ import annotations

import json

import boto3
import pytest
from typer.testing import CliRunner

from mlops_template.infra.aws.sagemaker import job_name
from mlops_template.tooling.cli import app

from .conftest import MODEL


@pytest.fixture
def run(aws):
    runner = CliRunner()
    return lambda *args: runner.invoke(
        app, ["--help"] if not args else list(args), catch_exceptions=False
    )


def test_train_on_the_aws_backend_registers_in_dynamodb(run, data_file, aws):
    result = run("train", "--data", str(data_file), "--target", "diagnosis", "--model", MODEL)
    assert result.exit_code == 0, result.output
    assert "registered v1" in result.output
    shown = json.loads(run("registry", "show", "1", "--model", MODEL).output)
    assert shown["artifacts"]["model.onnx"]["uri"].startswith(f"s3://{aws.artifact_bucket}/")
    item = boto3.client("dynamodb").get_item(
        TableName=aws.registry_table,
        Key={"PK": {"S": f"MODEL#{MODEL}"}, "SK": {"S": "VERSION#0000000001"}},
    )
    assert "Item" in item


def test_train_on_sagemaker_through_the_sdk(run, data_file, aws, monkeypatch):
    monkeypatch.setenv("MLOPS_SAGEMAKER_ROLE_ARN", "arn:aws:iam::123456789012:role/mlops-training")
    monkeypatch.setenv(
        "MLOPS_TRAINING_IMAGE_URI",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-training:abc",
    )
    # moto runs no container: the emulator runs the job's entry point in this process on the
    # job's S3 channels and writes its model.tar.gz (tooling/emulation.py run_training_job).
    name = job_name(MODEL, "run-sdk-1")

    result = run(
        "train",
        "--data",
        str(data_file),
        "--target",
        "diagnosis",
        "--model",
        MODEL,
        "--on",
        "sagemaker",
        "--run-id",
        "run-sdk-1",
        "--poll-seconds",
        "0",
    )
    assert result.exit_code == 0, result.output
    assert "registered v1" in result.output
    job = boto3.client("sagemaker").describe_training_job(TrainingJobName=name)
    assert (
        job["AlgorithmSpecification"]["ContainerEntrypoint"][-1]
        == "mlops_template.training.sagemaker_entry"
    )
    assert {c["ChannelName"] for c in job["InputDataConfig"]} == {"train", "schema"}
    shown = json.loads(run("registry", "show", "1", "--model", MODEL).output)
    assert shown["run_id"] == "run-sdk-1"


def test_train_on_sagemaker_needs_its_settings(run, data_file):
    result = run("train", "--data", str(data_file), "--target", "diagnosis", "--on", "sagemaker")
    assert result.exit_code == 1 and "MLOPS_SAGEMAKER_ROLE_ARN" in result.output


def test_pipeline_start_on_aws_starts_one_execution_per_file(run, data_file, aws):
    sfn = boto3.client("stepfunctions")
    sfn.create_state_machine(
        name=aws.state_machine_arn.rsplit(":", 1)[-1],
        roleArn="arn:aws:iam::123456789012:role/pipeline",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
    )
    first = run("pipeline", "start", "--data", str(data_file), "--model", MODEL)
    again = run("pipeline", "start", "--data", str(data_file), "--model", MODEL)
    assert "pipeline started" in first.output and "already ran" in again.output
    assert len(sfn.list_executions(stateMachineArn=aws.state_machine_arn)["executions"]) == 1


def test_batch_start_scores_a_file_on_the_batch_state_machine(
    run, aws, production_v1, tmp_path, csv_bytes
):
    from mlops_template.infra import build_backend
    from mlops_template.tooling.emulation import deploy_batch

    deploy_batch(aws)
    rows = csv_bytes.decode().splitlines()
    header, body = rows[0], rows[1:]
    bad = body[3].split(",")
    bad[0] = "oops"  # the first column is numeric: this row is rejected, not dropped
    lines = [header, *body[:3], ",".join(bad), *body[4:]]
    data = tmp_path / "tonight.csv"
    data.write_text("\n".join(lines) + "\n")
    result = run(
        "batch", "start", "--data", str(data), "--model", MODEL, "--rows-per-chunk", "200", "--wait"
    )
    assert result.exit_code == 0, result.output
    assert f"{len(body)} rows: {len(body) - 1} scored, 1 rejected (v1)" in result.output
    run_id = result.output.split("batch run ", 1)[1].split()[0]
    store = build_backend(aws).data
    prefix = f"batch/{MODEL}/{run_id}/"
    assert len(store.keys(f"{prefix}predictions/")) == 3  # 569 rows in chunks of 200
    assert store.exists(f"{prefix}summary.json")


def test_batch_start_refuses_what_it_cannot_run(run, aws, monkeypatch, data_file):
    both = run("batch", "start", "--model", MODEL)
    assert both.exit_code == 2 and "--data FILE or --key KEY" in both.output
    outside = run("batch", "start", "--key", "incoming/x.csv", "--model", MODEL)
    assert outside.exit_code == 1 and "batch-input/" in outside.output
    monkeypatch.setenv("MLOPS_BACKEND", "local")
    local = run("batch", "start", "--data", str(data_file))
    assert local.exit_code == 2 and "mlops predict" in local.output
