"""A data file landed under incoming/: start the pipeline for it, once.

Trigger: S3 event notification (ObjectCreated) or EventBridge "Object Created".
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.typing import LambdaContext

from mlops_template.core.artifacts import INCOMING_PREFIX
from mlops_template.functions.runtime import logger, pipeline_starter, settings
from mlops_template.functions.tracing import tracer


def _objects(event: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(bucket, key, version tag) of each object; S3 notifications URL-encode keys."""
    if "Records" in event:
        return [
            (
                r["s3"]["bucket"]["name"],
                unquote_plus(r["s3"]["object"]["key"]),
                r["s3"]["object"].get("sequencer") or r["s3"]["object"].get("eTag", ""),
            )
            for r in event["Records"]
        ]
    detail = event["detail"]
    return [
        (
            detail["bucket"]["name"],
            detail["object"]["key"],
            detail["object"].get("sequencer") or detail["object"].get("etag", ""),
        )
    ]


@logger.inject_lambda_context(log_event=True, clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    starter = pipeline_starter()
    model = settings().model_name
    started = []
    for bucket, key, tag in _objects(event):
        if not key.startswith(INCOMING_PREFIX) or not key.endswith(".csv"):
            logger.info("not a data file, ignored", extra={"key": key})
            continue
        token = hashlib.sha256(f"{bucket}/{key}/{tag}".encode()).hexdigest()[:20]
        result = starter.start(model, key, token=token, reason=f"new data {key}")
        logger.info("pipeline", extra={"key": key, **result.model_dump()})
        started.append({"key": key, **result.model_dump()})
    return {"started": started}
