"""What moto cannot do: CloudWatch evaluating our alarms and notifying through SNS, on LocalStack.

The alarms are terraform/modules/monitoring's, read from the HCL: metric, namespace, dimensions,
statistic, threshold, comparison, evaluation periods, datapoints to alarm, missing-data
treatment, with the inputs the LocalStack setup deploys (localstack/local.tfvars: the REST API).
One value differs, here only: Period is 10 s instead of Terraform's 60-3600 s, so that a cycle
takes seconds, not hours. Metric data drives each alarm OK -> ALARM -> OK on LocalStack's own
evaluation; its ALARM notification travels through SNS to SQS, where our parser reads it."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from mlops_template.core.alarms import AlarmNotification, parse_alarms
from tests.terraform.conftest import MODULES, first, metric_alarms, parse

from .conftest import ROOT

TEST_PERIOD = 10  # seconds; Terraform's periods are 60, 300 and 3600
DEADLINE = 240  # seconds for every alarm's whole cycle (the 3-period one needs about 100)

LOCAL_TFVARS = {k: first(v) for k, v in parse(ROOT / "localstack" / "local.tfvars").items()}
PREFIX = f"mlops-t{uuid.uuid4().hex[:8]}"
ALARMS = metric_alarms(
    MODULES / "monitoring",
    {
        "name_prefix": PREFIX,
        "model_name": f"{LOCAL_TFVARS['model_name']}-{PREFIX}",  # no other run's data
        "api_type": LOCAL_TFVARS["api_type"],
        "dead_letter_queues": {"incoming": f"{PREFIX}-incoming-dlq"},
        "api_id": f"{PREFIX}-id",
        "api_name": f"{PREFIX}-api",
        "api_stage": "api",
        "state_machine_arn": f"arn:aws:states:us-east-1:000000000000:stateMachine:{PREFIX}",
        # Set only for a regression model (default null: no alarm); set here so it is driven too.
        "max_feedback_rmse": 10,
    },
)
# LocalStack 2026.3 evaluates Statistic alarms only: an ExtendedStatistic (p99) one stays
# INSUFFICIENT_DATA there, so it cannot be driven.
UNEVALUATED = {name for name, alarm in ALARMS.items() if "ExtendedStatistic" in alarm}


def values(alarm: dict[str, Any]) -> tuple[float, float]:
    """(a breaching datapoint, a calm one) for the alarm's comparison; 0 keeps a Sum calm."""
    threshold = float(alarm["Threshold"])
    if alarm["ComparisonOperator"].startswith("GreaterThan"):
        return threshold * 2 + 1, 0.0
    return threshold / 2, threshold * 2


@dataclass
class Cycle:
    """What one alarm went through: its states in order (INSUFFICIENT_DATA at creation left
    out), the seconds that took, and the notifications SNS delivered."""

    phase: str = "calm"  # calm until OK, breach until ALARM, recover until OK, done
    states: list[str] = field(default_factory=list)
    seconds: float = 0.0
    notifications: list[AlarmNotification] = field(default_factory=list)


@pytest.fixture(scope="module")
def cycles(client) -> Iterator[dict[str, Cycle]]:
    sns, sqs, cloudwatch = client("sns"), client("sqs"), client("cloudwatch")
    topic = sns.create_topic(Name=PREFIX)["TopicArn"]
    queue = sqs.create_queue(QueueName=PREFIX)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    driven = {name: alarm for name, alarm in ALARMS.items() if name not in UNEVALUATED}
    for alarm in driven.values():
        cloudwatch.put_metric_alarm(**{**alarm, "Period": TEST_PERIOD}, AlarmActions=[topic])
    found = {name: Cycle() for name in driven}
    start = time.monotonic()
    while time.monotonic() - start < DEADLINE and any(c.phase != "done" for c in found.values()):
        for name, cycle in found.items():
            if cycle.phase != "done":
                breaching, calm = values(driven[name])
                put(cloudwatch, driven[name], breaching if cycle.phase == "breach" else calm)
        states = {
            a["AlarmName"]: a["StateValue"]
            for a in cloudwatch.describe_alarms(AlarmNamePrefix=PREFIX)["MetricAlarms"]
        }
        for name, cycle in found.items():
            state = states[driven[name]["AlarmName"]]
            if state != "INSUFFICIENT_DATA" and cycle.states[-1:] != [state]:
                cycle.states.append(state)
                cycle.phase = {"OK": "breach", "ALARM": "recover"}[state]
                if cycle.states == ["OK", "ALARM", "OK"]:
                    cycle.phase, cycle.seconds = "done", time.monotonic() - start
        time.sleep(1)
    for notification in delivered(sqs, queue, topic):
        (name,) = [n for n, alarm in driven.items() if alarm["AlarmName"] == notification.name]
        found[name].notifications.append(notification)
    yield found
    # A reused LocalStack would go on evaluating them every few seconds.
    cloudwatch.delete_alarms(AlarmNames=[alarm["AlarmName"] for alarm in driven.values()])
    sns.delete_topic(TopicArn=topic)
    sqs.delete_queue(QueueUrl=queue)


def put(cloudwatch, alarm: dict[str, Any], value: float) -> None:
    cloudwatch.put_metric_data(
        Namespace=alarm["Namespace"],
        MetricData=[
            {
                "MetricName": alarm["MetricName"],
                "Dimensions": alarm["Dimensions"],
                "Value": value,
                "Timestamp": datetime.now(UTC),
            }
        ],
    )


def delivered(sqs, queue: str, topic: str) -> list[AlarmNotification]:
    """Every notification in the queue, read as our retrain and rollback functions read them."""
    found = []
    while messages := sqs.receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1
    ).get("Messages", []):
        for message in messages:
            envelope = json.loads(message["Body"])
            record = {"EventSource": "aws:sns", "Sns": {**envelope, "TopicArn": topic}}
            found += parse_alarms({"Records": [record]})
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return found


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            name,
            marks=pytest.mark.skip(reason="LocalStack does not evaluate ExtendedStatistic alarms")
            if name in UNEVALUATED
            else (),
        )
        for name in ALARMS
    ],
)
def test_the_terraform_alarm_goes_ok_alarm_ok_and_notifies_once(name, cycles, figure):
    alarm, cycle = ALARMS[name], cycles[name]
    assert cycle.states == ["OK", "ALARM", "OK"], f"{name}: {cycle}"
    figure(f"LocalStack alarm {name}", f"OK -> ALARM -> OK in {cycle.seconds:.0f}s")
    assert len(cycle.notifications) == 1, f"{name}: {len(cycle.notifications)} notifications"
    (notification,) = cycle.notifications
    assert (notification.name, notification.state, notification.metric) == (
        alarm["AlarmName"],
        "ALARM",
        alarm["MetricName"],
    )
    assert notification.dimensions == {d["Name"]: d["Value"] for d in alarm["Dimensions"]}


def test_every_terraform_alarm_is_here():
    """The list above is read from the HCL: a new alarm in the module gets its own case."""
    main = (MODULES / "monitoring" / "main.tf").read_text()
    resources = {name.split("[")[0] for name in ALARMS}
    assert len(resources) == main.count('resource "aws_cloudwatch_metric_alarm"') >= 6
