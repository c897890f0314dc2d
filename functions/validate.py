"""Pipeline tasks around the data file: route it by size, validate it (here, or collect what a
SageMaker Processing job found), and quarantine it when a step dies.

Trigger: Step Functions (state in, `$.route`, `$.validation` or `$.quarantined` out).
DataValidationError fails the task: the file is already in quarantine/ with its report.
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
    actor = f"pipeline ({event.reason})" if event.reason else "pipeline"
    checked = steps().validate(event.model, event.key, run_id=event.run_id, actor=actor)
    return checked.model_dump(mode="json")


@logger.inject_lambda_context(correlation_id_path="run_id", clear_state=True)
@tracer.capture_lambda_handler
@event_parser(model=PipelineState)
def route_handler(event: PipelineState, context: LambdaContext) -> dict[str, Any]:
    """The Route state: the file's size picks the engine (`$.route` out)."""
    actor = f"pipeline ({event.reason})" if event.reason else "pipeline"
    routed = steps().route(event.model, event.key, event.run_id, settings(), actor=actor)
    logger.info("routed", extra=routed.model_dump(mode="json", exclude={"jobs"}))
    return routed.model_dump(mode="json")


@logger.inject_lambda_context(correlation_id_path="run_id", clear_state=True)
@tracer.capture_lambda_handler
@event_parser(model=PipelineState)
def collect_handler(event: PipelineState, context: LambdaContext) -> dict[str, Any]:
    """After the validation (Processing) job: its report accepts or quarantines the file."""
    if event.route is None or event.route.jobs is None:
        raise ValueError("pipeline state has no SageMaker jobs to collect")
    checked = steps().collect_validation(event.model, event.key, event.run_id, event.route.jobs)
    return checked.model_dump(mode="json")


@logger.inject_lambda_context(correlation_id_path="run_id", clear_state=True)
@tracer.capture_lambda_handler
@event_parser(model=PipelineState)
def quarantine_handler(event: PipelineState, context: LambdaContext) -> dict[str, Any]:
    """A step died (memory, time, an error): the file goes to quarantine with a report."""
    return steps().quarantine_failed(event).model_dump(mode="json")
