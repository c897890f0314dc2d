"""The prediction API: plain ASGI (FastAPI). Mangum adapts it to Lambda, uvicorn serves it
anywhere else. It imports no pandas or scikit-learn: ONNX Runtime and numpy do the work."""

from __future__ import annotations

import math
import random
import secrets
import time
from typing import Annotated, Any, TypeVar

import numpy as np
from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model
from pydantic_core import PydanticCustomError, to_json

from infra.backend import Backend
from infra.ports import MetricsSink, PredictionLog
from infra.records import PredictionRecord
from infra.serving import LoadedModel, ModelRouter, paused_gc
from infra.settings import Settings
from training.schema import Label


class PredictRequest(BaseModel):
    """Documentation of the body: the fields of a record are the served model's features."""

    records: list[dict[str, Any]] = Field(
        min_length=1, description="Feature records, each validated against the model's schema."
    )


Body = TypeVar("Body", bound=BaseModel)


def json_body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI request body of an operation that reads its body with `parse_json_body`
    (a new dict each time: the app's `openapi()` fills it in with the served model's schema)."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


def parse_json_body(model: type[Body], body: bytes) -> Body:
    """The body as `model`, parsed and validated by pydantic-core in one pass.

    Every operation with a JSON body reads it this way, whatever its content-type says: the
    sample events API Gateway projects publish (REST v1 and HTTP API v2) carry none. An invalid
    body is a 422 whose errors are located under `body`, like FastAPI's own.
    """
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None


def json_body(model: type[Body]) -> Any:
    """`parse_json_body` as a dependency: `body: Annotated[Model, json_body(Model)]`."""

    async def read(request: Request) -> Body:
        return parse_json_body(model, await request.body())

    return Depends(read)


class Prediction(BaseModel):
    prediction_id: str
    label: Label = Field(
        description="The predicted class, typed as the training data's labels (0, true, 'yes')."
    )
    probability: float = Field(description="Probability of the predicted label.")
    probabilities: dict[str, float] | None = Field(
        default=None,
        description="Multiclass models only: the probability of every class, keyed by the "
        "class as text.",
    )


class PredictResponse(BaseModel):
    model: str
    version: int
    stage: str
    predictions: list[Prediction]


def _label_value(value: Any) -> Any:
    """A label as JSON carries it: a boolean, an integer, a finite number or 1..256 characters.
    One check (not a union of types) so that a wrong label is one error at `label`."""
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, str) and 1 <= len(value) <= 256:
        return value
    raise PydanticCustomError(
        "label_type",
        "label must be a boolean, an integer, a finite number or a string of 1 to 256 characters",
    )


class FeedbackRequest(BaseModel):
    prediction_id: str = Field(min_length=1, max_length=64)
    label: Annotated[Label, BeforeValidator(_label_value)] = Field(
        description="The true class: a label equal to a class once converted to its type."
    )


class FeedbackResponse(BaseModel):
    status: str
    prediction_id: str


class HealthResponse(BaseModel):
    status: str
    model: str
    version: int | None = None
    stage: str
    reason: str | None = None


class ModelInfo(BaseModel):
    model: str
    version: int
    stage: str
    created_at: str
    model_sha256: str
    code_version: str
    data_sha256: str
    metrics: dict[str, float]
    gate: dict[str, Any]
    schema_: dict[str, Any] = Field(alias="schema")
    unknown_categories: dict[str, int] = Field(
        description="Per categorical feature, how many values outside the schema's categories "
        "this instance has scored since it loaded the version (also the UnknownCategories "
        "metric, per request)."
    )


class ErrorMessage(BaseModel):
    detail: str


class ValidationIssue(BaseModel):
    loc: list[str | int]
    msg: str
    type: str
    input: Any = None
    ctx: dict[str, Any] | None = None


class ValidationErrors(BaseModel):
    detail: list[ValidationIssue]


def create_app(
    router: ModelRouter,
    *,
    predictions: PredictionLog | None = None,
    metrics: MetricsSink | None = None,
    capture_sample_rate: float = 1.0,
    max_batch_records: int = 10_000,
    max_body_bytes: int = 6 * 1024 * 1024,
    capture_max_records: int = 100,
) -> FastAPI:
    # /docs (Swagger UI) and /redoc with their scripts and styles served by the app itself, from
    # the fastapi-offline package: FastAPI's own pages load them from a CDN, blank offline.
    # No online validator either: Swagger UI would send the spec's URL to swagger.io.
    app = FastAPIOffline(
        title="Model API",
        version="1",
        description="Predictions from the model version in the served stage.",
        swagger_ui_parameters={"validatorUrl": None},
    )
    dims = {"model": router.model, "stage": router.stage}
    app.add_exception_handler(RequestValidationError, validation_failed)  # type: ignore[arg-type]

    def emit(name: str, value: float, unit: str = "Count", **extra: str) -> None:
        if metrics is not None:
            metrics.put(name, value, unit=unit, dimensions={**dims, **extra})

    def unavailable() -> JSONResponse:
        return JSONResponse(
            status_code=503,
            content={"detail": router.last_error or "no model loaded"},
        )

    def too_large(size: int | str) -> JSONResponse:
        return JSONResponse(
            status_code=413,
            content={"detail": f"request body is {size} bytes; the limit is {max_body_bytes}"},
        )

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Any) -> Any:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_body_bytes:
            return too_large(length)
        return await call_next(request)

    request_models: dict[tuple[str, int], type[BaseModel]] = {}

    def request_model(loaded: LoadedModel) -> type[BaseModel]:
        """{"records": [Record, ...]} for this version's schema, built once per version
        (versions are immutable, so the key can never point at another schema)."""
        key = (loaded.record.model, loaded.version)
        if key not in request_models:
            request_models[key] = create_model(
                "PredictRequest",
                __config__=ConfigDict(extra="forbid"),
                records=(
                    list[loaded.schema.record_model],  # type: ignore[name-defined]
                    Field(min_length=1, max_length=max_batch_records),
                ),
            )
        return request_models[key]

    @app.post(
        "/predict",
        response_model=PredictResponse,
        responses={
            503: {"model": ErrorMessage},
            413: {"model": ErrorMessage},
            422: {"model": ValidationErrors},
        },
        openapi_extra=json_body_doc(PredictRequest),
    )
    async def predict(request: Request) -> Any:
        body = await request.body()
        if len(body) > max_body_bytes:  # a chunked body has no content-length to check early
            return too_large(len(body))
        return await run_in_threadpool(predict_body, body)

    def predict_body(body: bytes) -> Response:
        with paused_gc():
            return score_body(body)

    def score_body(body: bytes) -> Response:
        started = time.perf_counter()
        route = router.route()
        if route is None:
            emit("PredictionErrors", 1)
            return unavailable()
        loaded = route.serving
        records = parse_json_body(request_model(loaded), body).records  # type: ignore[attr-defined]
        unknown = loaded.unknown_categories.count(records)
        labels, probabilities = loaded.classifier.predict_objects(records)
        top = _top(probabilities)
        # One random base per request: unique ids without a uuid4 per record.
        base = secrets.token_hex(10)
        ids = [f"{base}{i:06x}" for i in range(len(labels))]
        typed = loaded.schema.target.label_values()
        answers: list[dict[str, Any]] = [
            {"prediction_id": i, "label": typed[label], "probability": p}
            for i, label, p in zip(ids, labels, top, strict=True)
        ]
        if probabilities.shape[1] > 2:  # binary: the top probability says it all
            classes = loaded.classifier.classes
            for answer, row in zip(answers, probabilities.round(6).tolist(), strict=True):
                answer["probabilities"] = dict(zip(classes, row, strict=True))
        payload = {
            "model": loaded.record.model,
            "version": loaded.version,
            "stage": loaded.stage,
            "predictions": answers,
        }
        capture = predictions is not None and random.random() < capture_sample_rate
        if capture:
            _capture(loaded, ids, records, labels, top)
        if route.shadow is not None:
            # The challenger scores the same records; its answer is measured, never returned.
            shadow_labels, shadow_probabilities = route.shadow.classifier.predict_objects(records)
            agreement = sum(a == b for a, b in zip(labels, shadow_labels, strict=True))
            emit(
                "ShadowAgreement",
                agreement / len(labels),
                "None",
                version=str(route.shadow.version),
            )
            if capture:
                _capture(
                    route.shadow,
                    [f"{i}-shadow" for i in ids],
                    records,
                    shadow_labels,
                    _top(shadow_probabilities),
                )
        version = str(loaded.version)
        emit("Predictions", len(labels), version=version)
        for feature, count in unknown.items():
            emit("UnknownCategories", count, version=version, feature=feature)
        for label in set(labels):
            emit("PredictedLabel", labels.count(label), version=version, label=label)
        emit(
            "PredictionLatency",
            (time.perf_counter() - started) * 1000,
            "Milliseconds",
            version=version,
        )
        return Response(content=to_json(payload), media_type="application/json")

    def _top(probabilities: np.ndarray) -> list[float]:
        return list(probabilities.max(axis=1).round(6).tolist())

    def _capture(
        loaded: LoadedModel,
        ids: list[str],
        records: list[BaseModel],
        labels: list[str],
        top: list[float],
    ) -> None:
        assert predictions is not None
        n = capture_max_records
        predictions.record(
            [
                PredictionRecord(
                    prediction_id=i,
                    model=loaded.record.model,
                    version=loaded.version,
                    stage=loaded.stage,
                    features=r.model_dump(),
                    label=label,
                    probability=p,
                )
                for i, r, label, p in zip(ids[:n], records[:n], labels[:n], top[:n], strict=True)
            ]
        )

    @app.get("/health", response_model=HealthResponse, responses={503: {"model": HealthResponse}})
    def health() -> Any:
        loaded = router.get()
        if loaded is None:
            return JSONResponse(
                status_code=503,
                content=HealthResponse(
                    status="unavailable",
                    model=router.model,
                    stage=router.stage,
                    reason=router.last_error,
                ).model_dump(),
            )
        return HealthResponse(
            status="ok",
            model=router.model,
            version=loaded.version,
            stage=loaded.stage,
            reason=router.last_error,
        )

    @app.get("/model", response_model=ModelInfo, responses={503: {"model": ErrorMessage}})
    def model_info() -> Any:
        loaded = router.get()
        if loaded is None:
            return unavailable()
        record = loaded.record
        return ModelInfo(
            model=record.model,
            version=record.version,
            stage=loaded.stage,
            created_at=record.created_at,
            model_sha256=record.model_sha256,
            code_version=record.code_version,
            data_sha256=record.data_sha256,
            metrics=record.metrics,
            gate=record.gate,
            schema=loaded.schema.model_dump(),
            unknown_categories=loaded.unknown_categories.since_load(),
        )

    @app.post(
        "/feedback",
        status_code=202,
        response_model=FeedbackResponse,
        responses={
            404: {"model": ErrorMessage},
            422: {"model": ValidationErrors},
            503: {"model": ErrorMessage},
        },
        openapi_extra=json_body_doc(FeedbackRequest),
    )
    def feedback(body: Annotated[FeedbackRequest, json_body(FeedbackRequest)]) -> Any:
        loaded = router.get()
        if loaded is None:
            return unavailable()
        target = loaded.schema.target
        # Stored as the class's text, the way predictions are: accuracy compares like with like.
        label = target.class_of(body.label)
        if label is None:
            raise RequestValidationError(
                [
                    {
                        "type": "enum",
                        "loc": ("body", "label"),
                        "msg": f"label must be one of {list(target.label_values().values())}",
                        "input": body.label,
                    }
                ]
            )
        if predictions is None or not predictions.add_feedback(body.prediction_id, label):
            return JSONResponse(
                status_code=404,
                content={"detail": f"prediction {body.prediction_id} was not captured"},
            )
        emit("Feedback", 1)
        return FeedbackResponse(status="recorded", prediction_id=body.prediction_id)

    def openapi() -> dict[str, Any]:
        """The spec, with the served model's own record and label schema when one is loaded:
        clients (and API fuzzers) see exactly which fields and classes are accepted."""
        spec = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        loaded = router.get()
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
                    "maxItems": max_batch_records,
                }
            },
        }
        content = spec["paths"]["/predict"]["post"]["requestBody"]["content"]
        content["application/json"]["schema"] = body
        # The served model's classes, typed as its training labels (and, for numbers and
        # booleans, their text forms, which feedback accepts too).
        target = loaded.schema.target
        typed = list(target.label_values().values())
        spec["components"]["schemas"]["Prediction"]["properties"]["label"] = {"enum": typed}
        feedback_body = spec["paths"]["/feedback"]["post"]["requestBody"]["content"]
        feedback_body["application/json"]["schema"]["properties"]["label"] = {
            "enum": typed if target.dtype == "string" else [*typed, *target.classes]
        }
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
    return app


async def validation_failed(request: Request, exc: RequestValidationError) -> JSONResponse:
    """The 422 of every operation, encodable whatever the client sent: FastAPI's own handler
    fails (a 500, and uvicorn drops the connection) on an input JSON cannot carry."""
    return JSONResponse(status_code=422, content={"detail": [_safe_error(e) for e in exc.errors()]})


def _safe_error(error: Any) -> dict[str, Any]:
    entry = dict(error)
    if "input" in entry:
        entry["input"] = _json_safe(entry["input"])
    if "ctx" in entry:
        entry["ctx"] = {k: str(v) for k, v in entry["ctx"].items()}
    return jsonable_encoder(entry)


def _json_safe(value: Any) -> Any:
    """An echoed input JSON can carry: a body that is not UTF-8 JSON as a short description
    (raw bytes would not encode), NaN and infinities (which Python's json and pydantic-core
    parse, 1e400 included) by the names clients write them with."""
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes of invalid JSON>"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


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
    )
