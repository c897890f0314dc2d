"""The real pipeline definition (the ASL template Terraform renders), executed by moto's Step
Functions interpreter, with every task a Lambda handler running in this process; alarms are
evaluated from CloudWatch metrics and delivered through SNS to the reacting functions."""

from __future__ import annotations

import json
import time
from pathlib import Path

import boto3
import pytest

from mlops_template.core.monitoring import DRIFT_SHARE_METRIC
from mlops_template.core.pipeline import PipelineSteps
from mlops_template.core.settings import settings_env
from mlops_template.infra.aws import aws_backend as build_backend
from mlops_template.tooling.emulation import (
    REGION,
    AslPipeline,
    LambdaApiClient,
    evaluate_alarm,
    run_execution,
)
from mlops_template.training.config import TrainingConfig
from mlops_template.training.datasets import TARGET

MODEL = "breast-cancer"
EVENTS = Path(__file__).resolve().parents[1] / "events"


@pytest.fixture
def deployed(aws):
    backend = build_backend(aws)
    PipelineSteps(backend).save_config(TrainingConfig(model_name=MODEL, target=TARGET))
    return AslPipeline(aws, backend)


def runs(aws) -> dict[str, dict]:
    items = boto3.client("dynamodb").query(
        TableName=aws.registry_table,
        KeyConditionExpression="PK = :pk AND begins_with(SK, :run)",
        ExpressionAttributeValues={":pk": {"S": f"MODEL#{MODEL}"}, ":run": {"S": "RUN#"}},
    )["Items"]
    return {i["SK"]["S"][4:]: {k: next(iter(v.values())) for k, v in i.items()} for i in items}


def test_good_data_goes_through_every_state_to_a_registered_version(
    deployed, aws, csv_bytes, figure
):
    deployed.backend.data.put("incoming/day1.csv", csv_bytes)
    start = time.perf_counter()
    result = deployed.run(MODEL, "incoming/day1.csv", run_id="run-good")
    took = time.perf_counter() - start
    assert result.status == "registered", result.error
    assert result.transitions == [
        "Route",
        "WhichEngine",
        "Validate",
        "Train",
        "Evaluate",
        "Gate",
        "Register",
        "Registered",
    ]
    assert [s.name for s in result.steps] == ["route", "validate", "train", "evaluate", "register"]
    assert deployed.backend.registry.get(MODEL, 1).run_id == "run-good"
    run = deployed.backend.registry.get_run(MODEL, "run-good")  # written by the steps
    assert (run.status, run.version, run.ended_at is not None) == ("registered", 1, True)
    assert run.metrics["roc_auc"] > 0.9 and run.rows["train"] > run.rows["test"] > 0
    assert run.hyperparameters["algorithm"] and run.data_sha256 and run.code_version
    figure("pipeline on moto's Step Functions", f"one execution (validate..register) {took:.2f}s")


def test_bad_data_is_quarantined_the_execution_fails_and_the_registry_is_unchanged(
    deployed, aws, csv_bytes
):
    deployed.backend.data.put("incoming/day1.csv", csv_bytes)
    deployed.run(MODEL, "incoming/day1.csv", run_id="run-1")
    bad = csv_bytes.replace(b"benign", b"healthy", 10)
    deployed.backend.data.put("incoming/day2.csv", bad)
    result = deployed.run(MODEL, "incoming/day2.csv", run_id="run-bad")
    assert result.status == "failed" and result.error_type == "DataValidationError"
    assert "labels outside" in result.error
    assert result.transitions == ["Route", "WhichEngine", "Validate", "RecordFailure", "Failed"]
    assert [v.version for v in deployed.backend.registry.versions(MODEL)] == [1]
    recorded = runs(aws)["run-bad"]  # the failure state's attributes, beside the steps' record
    assert recorded["failure_error"] == "DataValidationError"
    run = deployed.backend.registry.get_run(MODEL, "run-bad")
    assert run.status == "rejected_data" and "labels outside" in run.reason
    quarantined = deployed.backend.data.keys(f"quarantine/{MODEL}/")
    assert any(k.endswith("day2.csv") for k in quarantined)
    assert any(k.endswith("day2.csv.report.json") for k in quarantined)


def test_a_candidate_that_fails_the_gate_ends_rejected(deployed, aws, csv_bytes):
    strict = {"model_name": MODEL, "target": TARGET, "gate": {"min_lift_over_baseline": 0.9}}
    PipelineSteps(deployed.backend).save_config(TrainingConfig.model_validate(strict))
    deployed.backend.data.put("incoming/day1.csv", csv_bytes)
    result = deployed.run(MODEL, "incoming/day1.csv", run_id="run-weak")
    assert result.status == "rejected"
    assert result.transitions[-2:] == ["Gate", "Rejected"]
    assert deployed.backend.registry.versions(MODEL) == []
    run = deployed.backend.registry.get_run(MODEL, "run-weak")
    assert run.status == "gate_failed" and "baseline" in run.reason and run.metrics


def test_a_step_that_dies_leaves_its_run_marked_by_the_failure_state(
    deployed, aws, csv_bytes, monkeypatch
):
    """A step killed without a word of its own (here: training raises): the definition's Catch
    writes the failure onto the run's record, which then reads as an error with the cause."""
    from mlops_template.core.pipeline import PipelineSteps as Steps

    def out_of_memory(*args, **kwargs):
        raise MemoryError("Runtime exited with error: signal: killed")

    monkeypatch.setattr(Steps, "train", out_of_memory)
    deployed.backend.data.put("incoming/day1.csv", csv_bytes)
    result = deployed.run(MODEL, "incoming/day1.csv", run_id="run-oom")
    assert result.transitions[-2:] == ["RecordFailure", "Failed"]
    run = deployed.backend.registry.get_run(MODEL, "run-oom")
    assert run.status == "error" and run.reason.startswith("MemoryError: Runtime exited")
    assert run.data_sha256  # what the validate step recorded stays


def subscribe(aws, topic: str, function: str, handler: str) -> str:
    """A topic with a Lambda subscription, as terraform/modules/monitoring wires them."""
    lam, sns = boto3.client("lambda", region_name=REGION), boto3.client("sns", region_name=REGION)
    role = boto3.client("iam").list_roles()["Roles"][0]["Arn"]
    prefix = aws.data_bucket.removesuffix("-data")
    created = lam.create_function(
        FunctionName=f"{prefix}-{function}",
        Runtime="python3.12",
        Role=role,
        Handler=handler,
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
        Environment={"Variables": settings_env(aws)},
    )
    arn = sns.create_topic(Name=f"{prefix}-{topic}")["TopicArn"]
    sns.subscribe(TopicArn=arn, Protocol="lambda", Endpoint=created["FunctionArn"])
    return arn


def wait_for_executions(arn: str, count: int, timeout: float = 60) -> list[dict]:
    sfn = boto3.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while True:
        executions = sfn.list_executions(stateMachineArn=arn)["executions"]
        if len(executions) >= count and all(e["status"] != "RUNNING" for e in executions):
            return executions
        assert time.monotonic() < deadline, f"executions: {executions}"
        time.sleep(0.1)


def test_a_drift_alarm_retrains_through_sns_and_step_functions(
    deployed, aws, csv_bytes, typed_frame, schema
):
    from mlops_template.functions import monitor
    from mlops_template.functions.inference.handler import handler as inference
    from mlops_template.tooling.emulation import LambdaContext

    backend = deployed.backend
    backend.data.put("incoming/day1.csv", csv_bytes)
    first = deployed.run(MODEL, "incoming/day1.csv", run_id="run-1")
    backend.registry.promote(MODEL, first.version, "production", actor="test")
    topic = subscribe(aws, "alarms", "retrain", "mlops_template.functions.retrain.handler")
    cloudwatch = boto3.client("cloudwatch")
    alarm = f"{aws.data_bucket}-drift"
    cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        Namespace=aws.metrics_namespace,
        MetricName=DRIFT_SHARE_METRIC,
        Dimensions=[{"Name": "model", "Value": MODEL}, {"Name": "stage", "Value": "production"}],
        Statistic="Maximum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=0.1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=[topic],
    )
    assert evaluate_alarm(alarm) == "OK"  # nothing measured yet

    drifted = typed_frame.head(120).copy()
    for name in ("mean_radius", "mean_perimeter", "worst_radius", "worst_area"):
        drifted[name] = drifted[name] * 1.4
    api = LambdaApiClient(inference)
    records = drifted[schema.feature_names].to_dict(orient="records")
    for start in range(0, len(records), 40):
        api.post("/predict", json={"records": records[start : start + 40]}).raise_for_status()
    monitor.handler(
        json.loads((EVENTS / "eventbridge_schedule.json").read_text()),
        LambdaContext(function_name="monitor"),
    )

    assert evaluate_alarm(alarm) == "ALARM"  # -> SNS -> retrain -> StartExecution
    executions = wait_for_executions(deployed.state_machine_arn, 2)
    retrained = next(e for e in executions if e["name"] != "run-1")
    assert retrained["name"].startswith(f"{MODEL}-retrain-{alarm}-")
    assert retrained["status"] == "SUCCEEDED"
    assert [v.version for v in backend.registry.versions(MODEL)] == [1, 2]
    assert evaluate_alarm(alarm) == "ALARM"  # still breaching: no new notification, no new run
    assert len(wait_for_executions(deployed.state_machine_arn, 2)) == 2


def test_an_error_alarm_on_a_fresh_model_rolls_production_back(deployed, aws, csv_bytes):
    backend = deployed.backend
    backend.data.put("incoming/day1.csv", csv_bytes)
    first = deployed.run(MODEL, "incoming/day1.csv", run_id="run-1")
    backend.data.put("incoming/day2.csv", csv_bytes)
    second = deployed.run(MODEL, "incoming/day2.csv", run_id="run-2")
    backend.registry.promote(MODEL, first.version, "production", actor="test")
    backend.registry.promote(MODEL, second.version, "production", actor="release")
    topic = subscribe(aws, "errors", "rollback", "mlops_template.functions.rollback.handler")
    cloudwatch = boto3.client("cloudwatch")
    dimensions = [{"Name": "ApiId", "Value": "emulated"}, {"Name": "Stage", "Value": "$default"}]
    cloudwatch.put_metric_alarm(
        AlarmName="api-5xx",
        Namespace="AWS/ApiGateway",
        MetricName="5xx",
        Dimensions=dimensions,
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=5,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=[topic],
    )
    cloudwatch.put_metric_data(
        Namespace="AWS/ApiGateway",
        MetricData=[{"MetricName": "5xx", "Dimensions": dimensions, "Value": 12, "Unit": "Count"}],
    )
    assert evaluate_alarm("api-5xx") == "ALARM"  # -> SNS -> rollback function
    assert backend.registry.current(MODEL, "production").version == first.version
    last = backend.registry.history(MODEL, "production")[-1]
    assert (last.action, last.actor, last.from_version) == ("rollback", "alarm:api-5xx", 2)


def test_run_execution_reports_a_timeout(deployed, csv_bytes, monkeypatch):
    deployed.backend.data.put("incoming/day1.csv", csv_bytes)
    with pytest.raises(TimeoutError):
        run_execution(
            deployed.state_machine_arn,
            "run-slow",
            {"model": MODEL, "key": "incoming/day1.csv", "run_id": "run-slow"},
            timeout_seconds=0,
        )
