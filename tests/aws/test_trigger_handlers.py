"""Handlers that react to events: new data, alarms, the monitor's schedule."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from mlops_template.core.alarms import AlarmNotification, NotAnAlarmError, parse_alarms
from mlops_template.core.reactions import rollback_if_fresh
from mlops_template.functions import ingest, monitor, retrain, rollback

from .conftest import MODEL, load_event


@pytest.fixture
def state_machine(aws):
    name = aws.state_machine_arn.rsplit(":", 1)[-1]
    boto3.client("stepfunctions").create_state_machine(
        name=name,
        roleArn="arn:aws:iam::123456789012:role/pipeline",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
    )
    return aws.state_machine_arn


def executions(arn: str) -> list[dict]:
    return boto3.client("stepfunctions").list_executions(stateMachineArn=arn)["executions"]


def test_an_s3_put_starts_the_pipeline_once_with_the_decoded_key(aws, state_machine, context):
    event = load_event("s3_put_incoming.json", REPLACED_BY_TEST=aws.data_bucket)
    first = ingest.handler(event, context)
    again = ingest.handler(event, context)  # S3 delivers at least once
    assert first["started"][0]["key"] == "incoming/day 1=2026-11-22.csv"
    assert first["started"][0]["started"] is True and again["started"][0]["started"] is False
    (execution,) = executions(state_machine)
    described = boto3.client("stepfunctions").describe_execution(
        executionArn=execution["executionArn"]
    )
    assert json.loads(described["input"])["key"] == "incoming/day 1=2026-11-22.csv"


def test_an_eventbridge_object_created_event_starts_the_pipeline(aws, state_machine, context):
    event = load_event("eventbridge_s3_object_created.json", REPLACED_BY_TEST=aws.data_bucket)
    result = ingest.handler(event, context)
    assert result["started"][0]["key"] == "incoming/day 2.csv"
    assert len(executions(state_machine)) == 1


def test_objects_outside_incoming_are_ignored(aws, state_machine, context):
    event = load_event("s3_put_incoming.json", REPLACED_BY_TEST=aws.data_bucket)
    event["Records"][0]["s3"]["object"]["key"] = "quarantine/x.csv"
    assert ingest.handler(event, context) == {"started": []}
    assert executions(state_machine) == []


def test_alarm_shapes_parse_to_the_same_record():
    (sns,) = parse_alarms(load_event("sns_cloudwatch_alarm.json"))
    (bridge,) = parse_alarms(load_event("eventbridge_alarm_state_change.json"))
    assert (sns.name, sns.state, sns.metric) == ("mlops-dev-data-drift", "ALARM", "DataDriftShare")
    assert sns.dimensions == {"model": "breast-cancer", "stage": "production"}
    assert (bridge.name, bridge.state, bridge.previous_state) == (
        "mlops-dev-api-5xx",
        "ALARM",
        "OK",
    )
    with pytest.raises(ValueError, match="not a CloudWatch alarm"):
        parse_alarms({"hello": "world"})


def test_an_alarm_storm_starts_one_retraining_run(production_v1, state_machine, context):
    event = load_event("sns_cloudwatch_alarm.json")
    results: list[dict] = []
    lock = threading.Lock()

    def notify() -> None:
        outcome = retrain.handler(event, context)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=notify) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for _ in range(5):  # late duplicates, after the first finished
        retrain.handler(event, context)
    (execution,) = executions(state_machine)
    started = json.loads(
        boto3.client("stepfunctions").describe_execution(executionArn=execution["executionArn"])[
            "input"
        ]
    )
    assert started["key"].startswith(f"validated/{MODEL}/")
    assert "mlops-dev-data-drift" in started["reason"]
    assert len(results) == 12


def test_an_alarm_returning_to_ok_starts_nothing(production_v1, state_machine, context):
    event = load_event("sns_cloudwatch_alarm.json")
    message = json.loads(event["Records"][0]["Sns"]["Message"])
    message["NewStateValue"] = "OK"
    event["Records"][0]["Sns"]["Message"] = json.dumps(message)
    result = retrain.handler(event, context)
    assert result["reactions"][0]["action"] == "ignored"
    assert executions(state_machine) == []


def test_an_error_alarm_rolls_a_fresh_promotion_back_once(
    production_v1, aws_backend, csv_bytes, context
):
    from mlops_template.core.pipeline import LocalPipeline

    aws_backend.data.put("incoming/day2.csv", csv_bytes)
    second = LocalPipeline(aws_backend).run(MODEL, "incoming/day2.csv", auto_promote="production")
    assert aws_backend.registry.current(MODEL, "production").version == second.version
    event = load_event("eventbridge_alarm_state_change.json")
    result = rollback.handler(event, context)
    assert result["reactions"][0]["action"] == "rollback"
    assert aws_backend.registry.current(MODEL, "production").version == 1
    last = aws_backend.registry.history(MODEL, "production")[-1]
    assert (last.action, last.actor) == ("rollback", "alarm:mlops-dev-api-5xx")
    again = rollback.handler(event, context)
    assert again["reactions"][0]["action"] == "ignored"
    assert aws_backend.registry.current(MODEL, "production").version == 1


def test_the_abtest_decided_alarm_applies_the_decision_once(
    production_v1, aws_backend, csv_bytes, context
):
    from mlops_template.core.abtest import start_abtest
    from mlops_template.core.pipeline import LocalPipeline
    from tests.conftest import capture_outcomes

    aws_backend.data.put("incoming/day2.csv", csv_bytes)
    second = LocalPipeline(aws_backend).run(MODEL, "incoming/day2.csv")
    aws_backend.registry.promote(MODEL, second.version, "canary", actor="test", weight=0.5)
    start_abtest(aws_backend, MODEL, mde=0.1, look_every=100, baseline=0.8, power=0.8)
    capture_outcomes(aws_backend, 1, "production", 160, 40, "c", model=MODEL)  # 0.80
    capture_outcomes(aws_backend, second.version, "canary", 190, 10, "e", model=MODEL)  # 0.95
    event = load_event("sns_cloudwatch_alarm.json")
    message = json.loads(event["Records"][0]["Sns"]["Message"])
    message["AlarmName"] = "mlops-dev-abtest-decided"
    event["Records"][0]["Sns"]["Message"] = json.dumps(message)
    result = rollback.handler(event, context)
    assert result["reactions"][0]["action"] == "abtest promote", result
    assert aws_backend.registry.current(MODEL, "production").version == second.version
    last = aws_backend.registry.history(MODEL, "production")[-1]
    assert last.actor == "alarm:mlops-dev-abtest-decided" and "A/B test" in last.reason
    again = rollback.handler(event, context)  # the test is over: nothing more to apply
    assert again["reactions"][0]["action"] == "refused"
    assert aws_backend.registry.current(MODEL, "production").version == second.version


def test_an_old_promotion_is_not_rolled_back(production_v1, aws_backend):
    alarm = AlarmNotification(name="api-5xx", state="ALARM")
    later = datetime.now(UTC) + timedelta(hours=2)
    result = rollback_if_fresh(
        aws_backend, MODEL, "production", alarm, window_seconds=3600, now=later
    )
    assert result.action == "ignored" and "not a fresh promotion" in result.detail


def test_the_monitor_publishes_drift_and_accuracy_to_cloudwatch(
    production_v1, aws_backend, typed_frame, schema, context
):
    from mlops_template.core.records import PredictionRecord

    drifted = typed_frame.head(80).copy()
    for name in ("mean_radius", "mean_perimeter", "worst_radius"):
        drifted[name] = drifted[name] * 1.5
    aws_backend.predictions.record(
        [
            PredictionRecord(
                prediction_id=f"p{i}",
                model=MODEL,
                version=1,
                stage="production",
                features=row,
                label="benign",
                probability=0.9,
                # Within the monitor's window (the last 24 hours).
                at=(datetime.now(UTC) - timedelta(minutes=i)).isoformat(),
            )
            for i, row in enumerate(drifted[schema.feature_names].to_dict(orient="records"))
        ]
    )
    for i, truth in enumerate(drifted["diagnosis"]):
        aws_backend.predictions.add_feedback(f"p{i}", truth, model=MODEL)
    result = monitor.handler(load_event("eventbridge_schedule.json"), context)
    assert result["drift"]["drift_detected"] is True
    cloudwatch = boto3.client("cloudwatch")
    now = datetime.now(UTC)

    def latest(metric: str) -> float:
        points = cloudwatch.get_metric_statistics(
            Namespace=aws_backend.metrics.namespace,
            MetricName=metric,
            StartTime=now - timedelta(minutes=5),
            EndTime=now + timedelta(minutes=5),
            Period=60,
            Statistics=["Maximum"],
            Dimensions=[
                {"Name": "model", "Value": MODEL},
                {"Name": "stage", "Value": "production"},
            ],
        )["Datapoints"]
        return max(p["Maximum"] for p in points)

    assert latest("DataDriftDetected") == 1.0
    assert latest("DataDriftShare") >= 0.1
    expected = (drifted["diagnosis"] == "benign").mean()
    assert latest("FeedbackAccuracy") == pytest.approx(expected)


# sam_scheduled_event.json is what `sam local generate-event cloudwatch scheduled-event` writes:
# the EventBridge envelope without `version`.
@pytest.mark.parametrize("sample", ["eventbridge_schedule.json", "sam_scheduled_event.json"])
def test_the_monitor_skips_when_nothing_is_served(aws, context, sample):
    result = monitor.handler(load_event(sample), context)
    assert "nothing to monitor" in result["skipped"]


# sam_sns_notification.json is what `sam local generate-event sns notification` writes: its
# default message, "example message", is not JSON.
@pytest.mark.parametrize("function", [retrain, rollback], ids=["retrain", "rollback"])
def test_a_message_that_is_not_an_alarm_is_logged_with_the_reason(
    aws, state_machine, context, caplog, function
):
    result = function.handler(load_event("sam_sns_notification.json"), context)
    assert result["reactions"] == []
    assert "95df01b4-ee98-5cb9-9903-4c221d41eb5e" in result["rejected"]
    assert "is not JSON" in result["rejected"] and "'example message'" in result["rejected"]
    (record,) = [r for r in caplog.records if r.msg == "not an alarm notification, ignored"]
    assert (record.levelname, record.reason) == ("ERROR", result["rejected"])
    assert executions(state_machine) == []


def test_a_json_message_that_is_not_an_alarm_names_what_it_lacks():
    event = load_event("sam_sns_notification.json")
    event["Records"][0]["Sns"]["Message"] = json.dumps({"hello": "world"})
    with pytest.raises(NotAnAlarmError, match="JSON without AlarmName and NewStateValue"):
        parse_alarms(event)
