"""The prediction API on Lambda: the FastAPI app behind Mangum.

Trigger: API Gateway HTTP API (payload v2) or REST API (v1), optionally under a base path.
The model is resolved and loaded on the first request of a container and refreshed when its
stage alias moves; the app and clients are built at init and reused while the container lives.
"""

from __future__ import annotations

from typing import Any, cast

from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from mlops_template.core.serving.app import app_from_settings
from mlops_template.functions.runtime import backend, logger, settings

_adapter: Mangum | None = None


def adapter() -> Mangum:
    global _adapter
    if _adapter is None:
        _adapter = Mangum(
            app_from_settings(settings(), backend()),
            lifespan="off",
            api_gateway_base_path=settings().api_base_path or "/",
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
