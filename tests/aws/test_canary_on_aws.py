"""The canary release on AWS (moto): the inference Lambda routes the canary's share, its
captures land in DynamoDB, the monitor Lambda (read-only) publishes the verdict, and the
rollback function, on the canary-decided alarm, promotes it through the registry's
conditional writes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3

from mlops_template.core.canary import (
    CANARY_DECIDED_ALARM_SUFFIX,
    CANARY_DECIDED_METRIC,
    load_canary,
    start_canary,
)
from mlops_template.core.pipeline import LocalPipeline
from mlops_template.functions import monitor, rollback
from mlops_template.functions.inference import handler as inference

from .conftest import MODEL
from .test_inference_handler import v2

EVENTS = Path(__file__).resolve().parents[1] / "events"


def test_a_canary_release_is_promoted_through_its_alarm(
    aws, configured, production_v1, csv_bytes, typed_frame, schema, context
):
    configured.data.put("incoming/day2.csv", csv_bytes)
    second = LocalPipeline(configured).run(MODEL, "incoming/day2.csv")
    assert second.status == "registered", second.error
    start_canary(configured, MODEL, second.version, actor="test", weight=0.5, window_seconds=0)
    rows = typed_frame[schema.feature_names].head(20).to_dict(orient="records")
    body = json.dumps({"records": rows})
    served = {inference.handler(v2(body), context)["statusCode"] for _ in range(30)}
    assert served == {200}

    monitor.handler(json.loads((EVENTS / "eventbridge_schedule.json").read_text()), context)
    assert configured.registry.aliases(MODEL)["production"].version != second.version
    decided = boto3.client("cloudwatch").get_metric_statistics(
        Namespace=aws.metrics_namespace,
        MetricName=CANARY_DECIDED_METRIC,
        Dimensions=[{"Name": "model", "Value": MODEL}, {"Name": "stage", "Value": "production"}],
        StartTime=datetime.now(UTC) - timedelta(minutes=5),
        EndTime=datetime.now(UTC) + timedelta(minutes=1),
        Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]
    assert [p["Maximum"] for p in decided] == [1.0]
    alarm = json.loads((EVENTS / "sns_cloudwatch_alarm.json").read_text())
    message = json.loads(alarm["Records"][0]["Sns"]["Message"])
    alarm["Records"][0]["Sns"]["Message"] = json.dumps(
        {**message, "AlarmName": f"mlops-dev{CANARY_DECIDED_ALARM_SUFFIX}"}
    )
    applied = rollback.handler(alarm, context)
    assert applied["reactions"][0]["action"] == "canary promote", applied

    aliases = configured.registry.aliases(MODEL)
    assert aliases["production"].version == second.version
    assert load_canary(configured, MODEL) is None
    moves = [(e.stage, e.to_version) for e in configured.registry.history(MODEL)]
    assert ("canary", second.version) in moves and moves[-1] == ("production", second.version)
