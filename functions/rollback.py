"""An error or latency alarm on the served model: roll a fresh promotion back; the A/B test's
"decided" alarm: apply its decision (promote the canary or retire it).

Trigger: SNS (alarm action) or EventBridge "CloudWatch Alarm State Change". Only a promotion
younger than MLOPS_ROLLBACK_WINDOW_SECONDS is rolled back; every move is recorded in history.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops_template.core.abtest import DECIDED_ALARM_SUFFIX
from mlops_template.core.alarms import NotAnAlarmError, parse_alarms
from mlops_template.core.canary import CANARY_DECIDED_ALARM_SUFFIX
from mlops_template.core.reactions import decide_abtest, decide_canary, rollback_if_fresh
from mlops_template.functions.runtime import backend, logger, not_an_alarm, settings
from mlops_template.functions.tracing import tracer


@logger.inject_lambda_context(log_event=True, clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    s = settings()
    try:
        alarms = parse_alarms(event)
    except NotAnAlarmError as error:
        return not_an_alarm(error)
    results = [
        (
            decide_canary(backend(), s.model_name, alarm)
            if alarm.name.endswith(CANARY_DECIDED_ALARM_SUFFIX)
            else decide_abtest(backend(), s.model_name, alarm)
            if alarm.name.endswith(DECIDED_ALARM_SUFFIX)
            else rollback_if_fresh(
                backend(),
                s.model_name,
                s.serving_stage,
                alarm,
                window_seconds=s.rollback_window_seconds,
            )
        ).model_dump()
        for alarm in alarms
    ]
    logger.info("rollback", extra={"results": results})
    return {"reactions": results}
