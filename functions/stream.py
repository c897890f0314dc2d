"""Streaming scoring: SQS messages of records in, their predictions out on another queue.

Trigger: an SQS event source mapping with ReportBatchItemFailures. Each message is scored on its
own (core/serving/stream.py says what a message holds and what its result is); a message that
fails (invalid, no model loaded, result not sent) is reported as a batch item failure, so only it
returns to the queue, and the queue's redrive policy moves it to the dead-letter queue after
maxReceiveCount receives. The scorer and its model are built once per container.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops_template.core.features.definitions import FeatureRepo, load_repo
from mlops_template.core.features.stream import (
    FeatureMessageRejected,
    ingest_message,
    is_feature_message,
)
from mlops_template.core.serving.router import ModelRouter
from mlops_template.core.serving.scoring import Emitter, Scorer, ServingLimits
from mlops_template.core.serving.stream import MessageRejected, StreamScorer
from mlops_template.functions.runtime import backend, logger, settings
from mlops_template.infra import build_result_queue

# A batch whose every message failed is reported like any other (each as a failure), not raised.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
_scorer: StreamScorer | None = None


def scorer() -> StreamScorer:
    global _scorer
    if _scorer is None:
        s, b = settings(), backend()
        router = ModelRouter(
            b.registry,
            b.artifacts,
            s.model_name,
            s.serving_stage,
            refresh_seconds=s.model_refresh_seconds,
            metrics=b.metrics,
        )
        limits = ServingLimits(
            max_body_bytes=s.max_body_bytes,
            max_batch_records=s.max_batch_records,
            capture_sample_rate=s.capture_sample_rate,
            capture_max_records=s.max_batch_records,  # a message is captured whole
        )
        _scorer = StreamScorer(
            Scorer(router, limits, Emitter(b.metrics, router), b.predictions),
            build_result_queue(s),
        )
    return _scorer


def reset() -> None:
    global _scorer, _feature_repo
    _scorer = None
    _feature_repo = None


_feature_repo: FeatureRepo | None = None


def feature_repo() -> FeatureRepo:
    global _feature_repo
    if _feature_repo is None:
        if not settings().feature_repo:
            raise FeatureMessageRejected("no feature definitions here (MLOPS_FEATURE_REPO)")
        _feature_repo = load_repo(settings().feature_repo)
    return _feature_repo


def record_handler(record: SQSRecord) -> dict[str, Any]:
    # Feature rows (docs/feature-store.md) share the stream: a message naming a feature view
    # is ingested (online + offline history), anything else is scored.
    if '"feature_view"' in record.body:
        body = json.loads(record.body)
        if is_feature_message(body):
            try:
                b = backend()
                return ingest_message(
                    feature_repo(), body, record.message_id, b.data, b.online_features
                )
            except FeatureMessageRejected as exc:
                logger.warning(
                    "feature message rejected",
                    extra={"message_id": record.message_id, "reason": str(exc)[:500]},
                )
                raise
    try:
        result = scorer().handle(record.body, record.message_id)
    except MessageRejected as exc:
        # Logged without the input; the message goes back to the queue, then to the DLQ.
        logger.warning(
            "message rejected",
            extra={"message_id": record.message_id, "errors": exc.errors, "reason": str(exc)},
        )
        raise
    return {"request_id": result["request_id"], "predictions": len(result["predictions"])}


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
