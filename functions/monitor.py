"""Scheduled: compare recent inputs with the training profile; publish drift, accuracy and the
data's and model's ages (freshness).

Trigger: EventBridge schedule.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops_template.core.events import EventBridgeEvent
from mlops_template.core.monitoring import run_monitor
from mlops_template.core.registry import RegistryError
from mlops_template.functions.runtime import backend, logger, settings
from mlops_template.functions.tracing import tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@event_parser(model=EventBridgeEvent)
def handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    model, stage = settings().model_name, settings().serving_stage
    drift_window = settings().drift_window_hours
    try:
        result = run_monitor(
            backend(),
            model,
            stage=stage,
            window=timedelta(hours=settings().monitor_window_hours),
            drift_window=timedelta(hours=drift_window) if drift_window else None,
        )
    except RegistryError as exc:
        logger.info("nothing to monitor", extra={"reason": str(exc)})
        return {"skipped": str(exc)}
    logger.info(
        "monitored",
        extra={
            "version": result.version,
            "captured": result.captured,
            "objects": result.objects,
            "window_start": result.window_start,
            "drift": result.drift.drift_detected,
            "feedback_accuracy": result.feedback_accuracy,
            "freshness": result.freshness.model_dump() if result.freshness else None,
            "drift_windows": len(result.drift_windows),
        },
    )
    return result.model_dump(mode="json", exclude={"drift": {"features"}})
