"""Pipeline task: register the candidate as a new version (after the gate passed), and promote
it to MLOPS_AUTO_PROMOTE_STAGE when set (staging in dev).

Trigger: Step Functions (state in, `$.registered` out).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.runtime import backend, logger, settings, steps
from functions.tracing import tracer
from infra.pipeline import PipelineState, RegisterOutput


@logger.inject_lambda_context(correlation_id_path="run_id", clear_state=True)
@tracer.capture_lambda_handler
@event_parser(model=PipelineState)
def handler(event: PipelineState, context: LambdaContext) -> dict[str, Any]:
    event.need("validation", "evaluation")
    assert event.validation is not None and event.evaluation is not None
    if not event.evaluation.gate.passed:
        raise ValueError("refusing to register a candidate that failed its gate")
    actor = f"pipeline:{event.run_id}"
    version = steps().register(
        event.model, event.run, event.evaluation.gate, event.validation.dataset, actor=actor
    )
    stage = settings().auto_promote_stage or None
    if stage:
        backend().registry.promote(
            event.model,
            version.version,
            stage,
            actor=actor,
            reason=f"auto-promotion after run {event.run_id}",
        )
    return RegisterOutput(version=version.version, promoted_to=stage).model_dump(mode="json")
