"""Azure Monitor alerts in the common alert schema (what an action group posts when
`use_common_alert_schema` is on) as the core's AlarmNotification: the reactions stay the ones
CloudWatch alarms drive on AWS."""

from __future__ import annotations

from typing import Any

from mlops_template.core.alarms import AlarmNotification, NotAnAlarmError

SCHEMA_ID = "azureMonitorCommonAlertSchema"
# monitorCondition -> the CloudWatch state names the reactions read.
STATES = {"Fired": "ALARM", "Resolved": "OK"}


def parse_alert(payload: Any) -> AlarmNotification:
    if not isinstance(payload, dict) or payload.get("schemaId") != SCHEMA_ID:
        raise NotAnAlarmError(
            f"the request is not an Azure Monitor alert: schemaId is not {SCHEMA_ID!r} "
            "(turn on the common alert schema in the action group)"
        )
    try:
        essentials: dict[str, Any] = payload["data"]["essentials"]
        name, condition = essentials["alertRule"], essentials["monitorCondition"]
    except (KeyError, TypeError) as exc:
        raise NotAnAlarmError(f"the alert has no data.essentials field {exc}") from None
    context = payload["data"].get("alertContext") or {}
    criteria = ((context.get("condition") or {}).get("allOf")) or [{}]
    first = criteria[0] if isinstance(criteria[0], dict) else {}
    reason = essentials.get("description") or (
        f"{first.get('metricName')} {first.get('operator')} {first.get('threshold')} "
        f"(value {first.get('metricValue')})"
        if first.get("metricName")
        else condition
    )
    return AlarmNotification(
        name=name,
        state=STATES.get(condition, condition),
        reason=reason,
        at=essentials.get("resolvedDateTime") or essentials.get("firedDateTime") or "",
        metric=first.get("metricName"),
        dimensions={
            str(d.get("name")): str(d.get("value"))
            for d in first.get("dimensions") or []
            if isinstance(d, dict)
        },
    )
