"""Pipeline task: register the candidate as a new version (after the gate passed), and promote
it to MLOPS_AUTO_PROMOTE_STAGE when set (staging in dev).

Trigger: Step Functions (state in, `$.registered` out).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops_template.core.pipeline import PipelineState
from mlops_template.functions.runtime import logger, settings, steps
from mlops_template.functions.tracing import tracer


@logger.inject_lambda_context(correlation_id_path="run_id", clear_state=True)
@tracer.capture_lambda_handler
@event_parser(model=PipelineState)
def handler(event: PipelineState, context: LambdaContext) -> dict[str, Any]:
    registered = steps().register_candidate(
        event,
        actor=f"pipeline:{event.run_id}",
        promote_to=settings().auto_promote_stage or None,
    )
    return registered.model_dump(mode="json")
