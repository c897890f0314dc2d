"""Pipeline task: validate the data file; bad files go to quarantine/ with a report.

Trigger: Step Functions (state in, `$.validation` out). DataValidationError fails the task.
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
    actor = f"pipeline ({event.reason})" if event.reason else "pipeline"
    checked = steps().validate(event.model, event.key, run_id=event.run_id, actor=actor)
    return checked.model_dump(mode="json")
