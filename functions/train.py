"""Pipeline tasks: train in this function, or collect the SageMaker training job the state
machine ran for a big file (its Route state chose).

Trigger: Step Functions (state in, `$.training` out).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops_template.core.pipeline import PipelineState, TrainOutput
from mlops_template.functions.runtime import logger, steps, training_launcher
from mlops_template.functions.tracing import tracer


@logger.inject_lambda_context(correlation_id_path="run_id", clear_state=True)
@tracer.capture_lambda_handler
@event_parser(model=PipelineState)
def handler(event: PipelineState, context: LambdaContext) -> dict[str, Any]:
    event.need("validation")
    assert event.validation is not None
    run = steps().train(event.model, event.validation.dataset, event.run_id)
    return TrainOutput(mode="lambda", run=run).model_dump(mode="json")


@logger.inject_lambda_context(correlation_id_path="run_id", clear_state=True)
@tracer.capture_lambda_handler
@event_parser(model=PipelineState)
def collect_handler(event: PipelineState, context: LambdaContext) -> dict[str, Any]:
    """After the job finished: its model.tar.gz becomes the run (`$.training` out)."""
    if event.route is not None and event.route.jobs is not None:
        name = event.route.jobs.training_job
    elif event.training is not None and event.training.job is not None:
        name = event.training.job.name
    else:
        raise ValueError("pipeline state has no training job to collect")
    job = training_launcher().status(name)
    run = steps().collect_training(event.model, event.run_id, job)
    return TrainOutput(mode="sagemaker", job=job, run=run).model_dump(mode="json")
