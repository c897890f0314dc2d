"""Pipeline task: score candidate and production on the same held-out rows; apply the gate.

Trigger: Step Functions (state in, `$.evaluation` out; the Choice reads `$.evaluation.gate.passed`).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops_template.core.pipeline import PipelineState
from mlops_template.functions.runtime import logger, steps
from mlops_template.functions.tracing import tracer


@logger.inject_lambda_context(correlation_id_path="run_id", clear_state=True)
@tracer.capture_lambda_handler
@event_parser(model=PipelineState)
def handler(event: PipelineState, context: LambdaContext) -> dict[str, Any]:
    return steps().evaluate(event.model, event.run).model_dump(mode="json")
