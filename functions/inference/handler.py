"""The prediction API on Lambda: the FastAPI app behind Mangum.

Trigger: API Gateway HTTP API (payload v2) or REST API (v1), optionally under a base path.
The model is resolved and loaded on the first request of a container and refreshed when its
stage alias moves; the app and clients are built at init and reused while the container lives.
"""

from __future__ import annotations

from typing import Any, cast

from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from functions.inference.app import create_app
from functions.runtime import backend, logger, settings
from infra.serving import ModelRouter


def build_app() -> Any:
    s = settings()
    b = backend()
    router = ModelRouter(
        b.registry,
        b.artifacts,
        s.model_name,
        s.serving_stage,
        refresh_seconds=s.model_refresh_seconds,
        metrics=b.metrics,
    )
    return create_app(
        router,
        predictions=b.predictions,
        metrics=b.metrics,
        capture_sample_rate=s.capture_sample_rate,
        max_batch_records=s.max_batch_records,
        max_body_bytes=s.max_body_bytes,
    )


_adapter: Mangum | None = None


def adapter() -> Mangum:
    global _adapter
    if _adapter is None:
        _adapter = Mangum(
            build_app(), lifespan="off", api_gateway_base_path=settings().api_base_path or "/"
        )
    return _adapter


def reset() -> None:
    global _adapter
    _adapter = None


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId", clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Mangum types its own context protocol; the runtime's object satisfies it.
    response: dict[str, Any] = adapter()(event, cast(Any, context))
    return response
