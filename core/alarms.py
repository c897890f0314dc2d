"""CloudWatch alarm notifications, whichever way they arrive, as one small record.

Three shapes reach a function: SNS (the alarm action; the alarm is JSON in Records[].Sns.Message),
EventBridge ("CloudWatch Alarm State Change"), and the direct Lambda alarm action. Anything else
raises NotAnAlarmError with a reason a person can act on.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.data_classes import SNSEvent
from aws_lambda_powertools.utilities.data_classes.sns_event import SNSEventRecord
from pydantic import BaseModel

from mlops_template.core.events import EventBridgeEvent


class NotAnAlarmError(ValueError):
    """The event, or a message in it, is not a CloudWatch alarm notification."""


class AlarmNotification(BaseModel):
    name: str
    state: str
    previous_state: str | None = None
    reason: str = ""
    at: str = ""
    metric: str | None = None
    dimensions: dict[str, str] = {}

    @property
    def firing(self) -> bool:
        return self.state == "ALARM"


def _sns_alarm(record: SNSEventRecord) -> dict[str, Any]:
    sns = record.sns
    where = f"the SNS message {sns.message_id} from {sns.topic_arn}"
    try:
        message = json.loads(sns.message)
    except json.JSONDecodeError as exc:
        raise NotAnAlarmError(
            f"{where} is not a CloudWatch alarm notification: it is not JSON "
            f"({exc.msg} at character {exc.pos}); it starts {sns.message[:40]!r}"
        ) from None
    if not isinstance(message, dict) or not {"AlarmName", "NewStateValue"} <= message.keys():
        raise NotAnAlarmError(
            f"{where} is not a CloudWatch alarm notification: it is JSON without "
            "AlarmName and NewStateValue"
        )
    return message


def _from_sns_message(message: dict[str, Any]) -> AlarmNotification:
    trigger = message.get("Trigger") or {}
    return AlarmNotification(
        name=message["AlarmName"],
        state=message["NewStateValue"],
        previous_state=message.get("OldStateValue"),
        reason=message.get("NewStateReason", ""),
        at=message.get("StateChangeTime", ""),
        metric=trigger.get("MetricName"),
        dimensions={d["name"]: d["value"] for d in trigger.get("Dimensions", [])},
    )


def _from_state_change(name: str, detail: dict[str, Any]) -> AlarmNotification:
    metrics = (detail.get("configuration") or {}).get("metrics") or []
    metric = (metrics[0].get("metricStat") or {}).get("metric", {}) if metrics else {}
    return AlarmNotification(
        name=name,
        state=detail["state"]["value"],
        previous_state=(detail.get("previousState") or {}).get("value"),
        reason=detail["state"].get("reason", ""),
        at=detail["state"].get("timestamp", ""),
        metric=metric.get("name"),
        dimensions=dict(metric.get("dimensions") or {}),
    )


def parse_alarms(event: dict[str, Any]) -> list[AlarmNotification]:
    """Every alarm notification in a Lambda event, or NotAnAlarmError if it holds none."""
    if "Records" in event:
        # The data class reads what we need without judging fields we do not use.
        return [_from_sns_message(_sns_alarm(r)) for r in SNSEvent(event).records]
    if event.get("detail-type") == "CloudWatch Alarm State Change":
        EventBridgeEvent.model_validate(event)  # the envelope must be a real EventBridge event
        detail: dict[str, Any] = event["detail"]
        return [_from_state_change(detail["alarmName"], detail)]
    if event.get("source") == "aws.cloudwatch" and "alarmData" in event:
        data = event["alarmData"]
        return [_from_state_change(data["alarmName"], data)]
    raise NotAnAlarmError("the event is not a CloudWatch alarm notification (SNS or EventBridge)")
