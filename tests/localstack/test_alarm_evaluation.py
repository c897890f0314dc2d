"""What moto cannot do: CloudWatch evaluating an alarm and notifying through SNS, on LocalStack.

Runs when a LocalStack answers at MLOPS_LOCALSTACK_URL (see localstack/README.md); skipped
otherwise."""

from __future__ import annotations

import json
import os
import time
import urllib.request
import uuid
from datetime import UTC, datetime

import boto3
import pytest

from infra.alarms import parse_alarms
from infra.monitoring import DRIFT_SHARE_METRIC

URL = os.environ.get("MLOPS_LOCALSTACK_URL", "http://127.0.0.1:4566")


def localstack_up() -> bool:
    try:
        with urllib.request.urlopen(f"{URL}/_localstack/health", timeout=2) as response:
            services = json.load(response).get("services", {})
    except (OSError, ValueError):
        return False
    return all(services.get(s) in ("available", "running") for s in ("cloudwatch", "sns", "sqs"))


pytestmark = pytest.mark.skipif(not localstack_up(), reason=f"no LocalStack at {URL}")


def client(service: str):
    return boto3.client(
        service,
        endpoint_url=URL,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def test_a_breaching_drift_metric_raises_the_alarm_and_notifies_through_sns(figure):
    name = f"drift-{uuid.uuid4().hex[:8]}"
    sns, sqs, cloudwatch = client("sns"), client("sqs"), client("cloudwatch")
    topic = sns.create_topic(Name=name)["TopicArn"]
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    dimensions = [{"Name": "model", "Value": name}, {"Name": "stage", "Value": "production"}]
    # The drift alarm of terraform/modules/monitoring, with a 10-second period.
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace="MLOps",
        MetricName=DRIFT_SHARE_METRIC,
        Dimensions=dimensions,
        Statistic="Maximum",
        Period=10,
        EvaluationPeriods=1,
        Threshold=0.1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=[topic],
    )
    start = time.monotonic()
    deadline = start + 90
    delivered = None
    while time.monotonic() < deadline and delivered is None:
        cloudwatch.put_metric_data(
            Namespace="MLOps",
            MetricData=[
                {
                    "MetricName": DRIFT_SHARE_METRIC,
                    "Dimensions": dimensions,
                    "Value": 0.4,
                    "Timestamp": datetime.now(UTC),
                }
            ],
        )
        messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=5).get("Messages", [])
        delivered = messages[0] if messages else None
    assert delivered is not None, "CloudWatch did not notify within 90 s"
    figure(
        "LocalStack alarm evaluation",
        f"ALARM raised and delivered to SQS through SNS in {time.monotonic() - start:.1f}s",
    )
    envelope = json.loads(delivered["Body"])
    (alarm,) = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    assert alarm["StateValue"] == "ALARM"
    # What our retrain function receives: the same notification, wrapped as an SNS event.
    event = {
        "Records": [
            {"EventSource": "aws:sns", "Sns": {"Message": envelope["Message"], "TopicArn": topic}}
        ]
    }
    (parsed,) = parse_alarms(event)
    assert (parsed.name, parsed.state, parsed.metric) == (name, "ALARM", DRIFT_SHARE_METRIC)
    assert parsed.dimensions == {"model": name, "stage": "production"}
