"""A drift or accuracy alarm fired: retrain on the newest accepted data, once per cool-down.

Trigger: SNS (alarm action) or EventBridge "CloudWatch Alarm State Change". Powertools
idempotency on DynamoDB keys on (model, alarm) for MLOPS_RETRAIN_COOLDOWN_SECONDS, so a storm
of notifications starts one pipeline run; the run's execution name is deterministic as well.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops_template.core.alarms import AlarmNotification, NotAnAlarmError, parse_alarms
from mlops_template.core.reactions import retrain
from mlops_template.functions.runtime import (
    backend,
    logger,
    not_an_alarm,
    pipeline_starter,
    settings,
)
from mlops_template.functions.tracing import tracer


@lru_cache(maxsize=4)
def _idempotent_retrain(table: str, cooldown_seconds: int) -> tuple[Any, IdempotencyConfig]:
    """The retrain reaction behind Powertools idempotency: one result per (model, alarm) key
    for the cool-down; concurrent duplicates see it in progress."""
    config = IdempotencyConfig(expires_after_seconds=cooldown_seconds)

    @idempotent_function(
        data_keyword_argument="key",
        persistence_store=DynamoDBPersistenceLayer(table_name=table),
        config=config,
    )
    def react(key: dict[str, str], alarm: dict[str, Any]) -> dict[str, Any]:
        result = retrain(
            backend(),
            pipeline_starter(),
            key["model"],
            AlarmNotification.model_validate(alarm),
            cooldown_seconds=cooldown_seconds,
        )
        return result.model_dump()

    return react, config


@logger.inject_lambda_context(log_event=True, clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    s = settings()
    react, config = _idempotent_retrain(s.idempotency_table, s.retrain_cooldown_seconds)
    config.register_lambda_context(context)
    try:
        alarms = parse_alarms(event)
    except NotAnAlarmError as error:
        return not_an_alarm(error)
    results = []
    for alarm in alarms:
        if not alarm.firing:
            results.append({"alarm": alarm.name, "action": "ignored", "detail": alarm.state})
            continue
        try:
            key = {"model": s.model_name, "alarm": alarm.name}
            results.append(react(key=key, alarm=alarm.model_dump()))
        except IdempotencyAlreadyInProgressError:
            results.append({"alarm": alarm.name, "action": "ignored", "detail": "in progress"})
    logger.info("retrain", extra={"results": results})
    return {"reactions": results}
