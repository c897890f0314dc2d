"""The prediction API: plain ASGI (FastAPI); Mangum adapts it to Lambda, uvicorn serves it
anywhere else. `InferenceService` answers the operations, one method per route, sharing the
router, the scorer and the metrics; `create_app` builds the FastAPI app over one and
`app_from_settings` is that app as the MLOPS_* settings configure it. Like the rest of
serving it imports no pandas or scikit-learn: ONNX Runtime and numpy do the work.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Annotated, Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from pydantic_core import to_json

from mlops_template.core.backend import Backend
from mlops_template.core.features.online import OnlineStore
from mlops_template.core.features.serving import EntityResolver, MissingPolicy
from mlops_template.core.ports import MetricsSink, PredictionLog
from mlops_template.core.serving.bodies import (
    BodyReadTimeout,
    body_read_timed_out,
    json_body,
    json_body_doc,
    read_json_request,
    validation_failed,
)
from mlops_template.core.serving.router import ModelRouter, paused_gc
from mlops_template.core.serving.schemas import (
    FeedbackRequest,
    FeedbackResponse,
    HealthResponse,
    ModelInfo,
    PredictRequest,
    PredictResponse,
    error_responses,
)
from mlops_template.core.serving.scoring import Emitter, NonFiniteOutput, Scorer, ServingLimits
from mlops_template.core.settings import Settings
from mlops_template.training.schema import Label, TargetSchema

log = logging.getLogger(__name__)

# The fields of the version's registry record that /model shows as recorded.
RECORD_FIELDS_SHOWN = {
    "model",
    "version",
    "created_at",
    "model_sha256",
    "code_version",
    "data_sha256",
    "metrics",
    "gate",
}


class InferenceService:
    """The API's operations over one router: what each route answers."""

    def __init__(
        self,
        router: ModelRouter,
        limits: ServingLimits,
        predictions: PredictionLog | None,
        metrics: MetricsSink | None,
    ) -> None:
        self.router = router
        self.limits = limits
        self.predictions = predictions
        self.emit = Emitter(metrics, router)
        self.scorer = Scorer(router, limits, self.emit, predictions)
        # Entity records (`{"customer_id": "c42", ...}`) are completed from the online feature
        # store before scoring, when the served version was trained from feature views.
        self.features: EntityResolver | None = None

    def unavailable(self) -> JSONResponse:
        return _detail(503, self.router.last_error or "no model loaded")

    def too_large(self, size: int | str) -> JSONResponse:
        return _detail(
            413, f"request body is {size} bytes; the limit is {self.limits.max_body_bytes}"
        )

    async def limit_body(self, request: Request, call_next: Any) -> Any:
        """Middleware: a body announced as too large is refused before it is read."""
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.limits.max_body_bytes:
            return self.too_large(length)
        return await call_next(request)

    async def predict(self, request: Request) -> Response:
        body = await read_json_request(request)
        if (
            len(body) > self.limits.max_body_bytes
        ):  # a chunked body has no content-length to check early
            return self.too_large(len(body))
        return await run_in_threadpool(self.predict_body, body)

    def predict_body(self, body: bytes) -> Response:
        with paused_gc():
            entities = None
            if self.features is not None and (loaded := self.router.get()) is not None:
                body, entities = self.features.resolve_entities(body, loaded.record.data_sha256)
            try:
                payload = self.scorer.score(body, entities=entities)
            except NonFiniteOutput as exc:
                return _detail(500, str(exc))
            if payload is None:
                return self.unavailable()
            return Response(content=to_json(payload), media_type="application/json")

    def health(self) -> HealthResponse | JSONResponse:
        loaded = self.router.get()
        if loaded is None:
            return JSONResponse(
                status_code=503,
                content=HealthResponse(
                    status="unavailable",
                    model=self.router.model,
                    stage=self.router.stage,
                    reason=self.router.last_error,
                    capture=self.scorer.captures.health,
                ).model_dump(),
            )
        return HealthResponse(
            status="ok",
            model=self.router.model,
            version=loaded.version,
            stage=loaded.stage,
            reason=self.router.last_error,
            capture=self.scorer.captures.health,
        )

    def model_info(self) -> ModelInfo | JSONResponse:
        loaded = self.router.get()
        if loaded is None:
            return self.unavailable()
        return ModelInfo(
            **loaded.record.model_dump(include=RECORD_FIELDS_SHOWN),
            stage=loaded.stage,
            schema=loaded.schema.model_dump(),
            unknown_categories=loaded.unknown_categories.since_load(),
        )

    def feedback(
        self, body: Annotated[FeedbackRequest, json_body(FeedbackRequest)]
    ) -> FeedbackResponse | JSONResponse:
        loaded = self.router.get()
        if loaded is None:
            return self.unavailable()
        label = _truth_of(loaded.schema.target, body.label)
        try:
            outcome = (
                "unknown"
                if self.predictions is None
                else self.predictions.add_feedback(
                    body.prediction_id, label, model=loaded.record.model
                )
            )
        except Exception as exc:
            # Unlike a capture, feedback is what the caller asked for: say it was not stored.
            self.emit("FeedbackErrors", 1)
            log.warning("feedback not stored: %s", type(exc).__name__)
            return _detail(
                503, f"feedback could not be stored ({type(exc).__name__}); try again later"
            )
        if outcome == "unknown":
            return _detail(404, f"prediction {body.prediction_id} was not captured")
        if outcome == "already_labelled":
            return _detail(
                409,
                f"prediction {body.prediction_id} already has feedback: "
                "a prediction is labelled once",
            )
        self.emit("Feedback", 1)
        return FeedbackResponse(status="recorded", prediction_id=body.prediction_id)

    def openapi(self, app: FastAPI) -> dict[str, Any]:
        """The spec, with the served model's own record and label schema when one is loaded:
        clients (and API fuzzers) see exactly which fields and classes are accepted."""
        spec = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        loaded = self.router.get()
        if loaded is None:
            return spec
        record = loaded.schema.record_model.model_json_schema()
        body = {
            "type": "object",
            "required": ["records"],
            "additionalProperties": False,
            "properties": {
                "records": {
                    "type": "array",
                    "items": record,
                    "minItems": 1,
                    "maxItems": self.limits.max_batch_records,
                }
            },
        }
        content = spec["paths"]["/predict"]["post"]["requestBody"]["content"]
        content["application/json"]["schema"] = body
        # The served model's classes, typed as its training labels (and, for numbers and
        # booleans, their text forms, which feedback accepts too).
        target = loaded.schema.target
        if target.task == "regression":  # values, not classes: nothing to enumerate
            return spec
        typed = list(target.label_values().values())
        spec["components"]["schemas"]["Prediction"]["properties"]["label"] = {"enum": typed}
        feedback_body = spec["paths"]["/feedback"]["post"]["requestBody"]["content"]
        feedback_body["application/json"]["schema"]["properties"]["label"] = {
            "enum": typed if target.dtype == "string" else [*typed, *target.classes]
        }
        return spec


def _truth_of(target: TargetSchema, label: Label) -> str:
    """Feedback's truth as stored: the class for a classifier, the number (as text, the way
    the prediction log stores every truth) for a regression. Anything else is a 422."""
    if target.task != "regression":
        return _class_of(target, label)
    if isinstance(label, bool) or not isinstance(label, int | float):
        raise RequestValidationError(
            [
                {
                    "type": "float_type",
                    "loc": ("body", "label"),
                    "msg": "label must be the true value, a finite number",
                    "input": label,
                }
            ]
        )
    return repr(float(label))


def _class_of(target: TargetSchema, label: Label) -> str:
    """The class a feedback label names, as its text: stored the way predictions are, so that
    accuracy compares like with like. A label naming no class is a 422."""
    found = target.class_of(label)
    if found is None:
        raise RequestValidationError(
            [
                {
                    "type": "enum",
                    "loc": ("body", "label"),
                    "msg": f"label must be one of {list(target.label_values().values())}",
                    "input": label,
                }
            ]
        )
    return found


def _detail(status: int, detail: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": detail})


def create_app(
    router: ModelRouter,
    *,
    predictions: PredictionLog | None = None,
    metrics: MetricsSink | None = None,
    capture_sample_rate: float = 1.0,
    max_batch_records: int = 10_000,
    max_body_bytes: int = 6 * 1024 * 1024,
    capture_max_records: int = 100,
    body_read_timeout_seconds: float | None = 10.0,
    online_features: OnlineStore | None = None,
    feature_missing: MissingPolicy = "reject",
) -> FastAPI:
    """The API over `router`: an `InferenceService` with its operations registered as routes."""
    limits = ServingLimits(
        max_body_bytes=max_body_bytes,
        max_batch_records=max_batch_records,
        capture_sample_rate=capture_sample_rate,
        capture_max_records=capture_max_records,
    )
    service = InferenceService(router, limits, predictions, metrics)
    if online_features is not None:
        service.features = EntityResolver(
            online_features, router.primary.artifacts, policy=feature_missing, emit=service.emit
        )
    # /docs (Swagger UI) and /redoc with their scripts and styles served by the app itself, from
    # the fastapi-offline package: FastAPI's own pages load them from a CDN, blank offline.
    # No online validator either: Swagger UI would send the spec's URL to swagger.io.
    app = FastAPIOffline(
        title="Model API",
        version="1",
        description="Predictions from the model version in the served stage.",
        swagger_ui_parameters={"validatorUrl": None},
    )
    app.add_exception_handler(RequestValidationError, validation_failed)  # type: ignore[arg-type]
    app.add_exception_handler(BodyReadTimeout, body_read_timed_out)
    app.state.body_read_timeout_seconds = body_read_timeout_seconds  # read by `bodies`
    register_routes(app, service)
    app.openapi = partial(service.openapi, app)  # type: ignore[method-assign]
    return app


def register_routes(app: FastAPI, service: InferenceService) -> None:
    """The service's operations as the app's routes (and its body-size limit as middleware)."""
    app.middleware("http")(service.limit_body)
    app.add_api_route(
        "/predict",
        service.predict,
        methods=["POST"],
        response_model=PredictResponse,
        responses=error_responses(503, 403, 408, 413, 415, 422),
        openapi_extra=json_body_doc(PredictRequest),
    )
    app.add_api_route(
        "/health",
        service.health,
        response_model=HealthResponse,
        responses={503: {"model": HealthResponse}},
    )
    app.add_api_route(
        "/model", service.model_info, response_model=ModelInfo, responses=error_responses(503)
    )
    app.add_api_route(
        "/feedback",
        service.feedback,
        methods=["POST"],
        status_code=202,
        response_model=FeedbackResponse,
        responses=error_responses(403, 404, 408, 409, 415, 422, 503),
        openapi_extra=json_body_doc(FeedbackRequest),
    )


def app_from_settings(settings: Settings, backend: Backend) -> FastAPI:
    """The API as configured by MLOPS_* settings: what Lambda and `mlops serve` both run."""
    router = ModelRouter(
        backend.registry,
        backend.artifacts,
        settings.model_name,
        settings.serving_stage,
        refresh_seconds=settings.model_refresh_seconds,
        metrics=backend.metrics,
    )
    return create_app(
        router,
        predictions=backend.predictions,
        metrics=backend.metrics,
        capture_sample_rate=settings.capture_sample_rate,
        max_batch_records=settings.max_batch_records,
        max_body_bytes=settings.max_body_bytes,
        body_read_timeout_seconds=settings.read_timeout_seconds,
        online_features=backend.online_features,
        feature_missing=settings.feature_missing,
    )
