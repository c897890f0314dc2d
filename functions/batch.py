"""Batch scoring tasks (the batch definition, `core/batch.asl.json`): split the input, score one
chunk (a Distributed Map runs one per chunk), summarize.

Trigger: Step Functions. Execution input `{"job": BatchJob}`; `$.split`, the Map's items
`{"job", "chunk", "sha256"}`, `$.summary`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from mlops_template.core.batch_job import BatchJob, Chunk, score, split, summarize
from mlops_template.functions.runtime import backend, logger
from mlops_template.functions.tracing import tracer


class JobState(BaseModel):
    job: BatchJob


class ChunkItem(BaseModel):
    job: BatchJob
    chunk: Chunk
    sha256: str


@logger.inject_lambda_context(correlation_id_path="job.run_id", clear_state=True)
@tracer.capture_lambda_handler
@event_parser(model=JobState)
def split_handler(event: JobState, context: LambdaContext) -> dict[str, Any]:
    return split(backend().data, event.job).model_dump(mode="json")


@logger.inject_lambda_context(correlation_id_path="job.run_id", clear_state=True)
@tracer.capture_lambda_handler
@event_parser(model=ChunkItem)
def score_handler(event: ChunkItem, context: LambdaContext) -> dict[str, Any]:
    return score(backend(), event.job, event.chunk, event.sha256).model_dump(mode="json")


@logger.inject_lambda_context(correlation_id_path="job.run_id", clear_state=True)
@tracer.capture_lambda_handler
@event_parser(model=JobState)
def summarize_handler(event: JobState, context: LambdaContext) -> dict[str, Any]:
    return summarize(backend().data, event.job).model_dump(mode="json")
