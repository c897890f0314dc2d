"""The prediction API: plain ASGI (FastAPI). Mangum adapts it to Lambda, uvicorn serves it
anywhere else. It imports no pandas or scikit-learn: ONNX Runtime and numpy do the work."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal, TypeVar

import numpy as np
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model
from pydantic_core import PydanticCustomError, to_json

from mlops_template.core.backend import Backend
from mlops_template.core.ports import MetricsSink, PredictionLog
from mlops_template.core.records import PredictionRecord
from mlops_template.core.serving.router import LoadedModel, ModelRouter, paused_gc
from mlops_template.core.settings import Settings
from mlops_template.training.schema import Label


class PredictRequest(BaseModel):
    """Documentation of the body: the fields of a record are the served model's features."""

    records: list[dict[str, Any]] = Field(
        min_length=1, description="Feature records, each validated against the model's schema."
    )


Body = TypeVar("Body", bound=BaseModel)

log = logging.getLogger(__name__)

# A 422 reports at most this many errors (and how many there were), each input cut to an
# excerpt: a 5 MB body with 300k unknown keys would otherwise answer a 39 MB 422.
MAX_REPORTED_ERRORS = 20
EXCERPT_CHARS = 100


class BodyValidationError(RequestValidationError):
    """A body's 422: the first errors found and how many there are in all."""

    def __init__(self, errors: Sequence[Any], *, count: int) -> None:
        super().__init__(errors)
        self.count = count


class BodyReadTimeout(Exception):
    """The client did not send its whole body within the app's body-read deadline."""


def json_body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI request body of an operation that reads its body with `parse_json_body`
    (a new dict each time: the app's `openapi()` fills it in with the served model's schema)."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


def fields_given(parsed: BaseModel) -> int:
    """The keys a flat model's JSON object had (see `parse_json_body`)."""
    return len(parsed.model_fields_set)


def parse_json_body(
    model: type[Body], body: bytes, members: Callable[[Body], int] = fields_given
) -> Body:
    """The body as `model`, parsed and validated by pydantic-core in one pass, with no key
    twice in an object.

    An invalid body is a 422 whose errors are located under `body`, like FastAPI's own.
    `members(parsed)` counts the object members the validated body had (keys across all its
    objects). pydantic-core keeps the last of duplicate keys silently; a colon outside a string
    is always a member's, so when the body has exactly `members` colons no key can be
    duplicated. That count is the fast path (about 0.3 ms per MB); only a body with more
    colons (duplicates, colons inside strings, or keys the model drops) is parsed once more to
    look for a duplicate.
    """
    try:
        parsed = model.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)[:MAX_REPORTED_ERRORS]
        raise BodyValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in errors], count=exc.error_count()
        ) from None
    if body.count(b":") != members(parsed):
        _refuse_duplicate_keys(body)
    return parsed


class _DuplicateKey(Exception):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


def _refuse_duplicate_keys(body: bytes) -> None:
    try:
        json.loads(body, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise BodyValidationError(
            [
                {
                    "type": "duplicate_key",
                    "loc": ("body",),
                    "msg": "a key appears twice in one object: each key may appear once",
                    "input": exc.args[0],
                }
            ],
            count=1,
        ) from None
    except ValueError:
        # What pydantic-core read and Python's json does not (an integer of over 4300 digits
        # coerced to text): pydantic-core's reading stands.
        return


def is_json_media_type(content_type: str | None) -> bool:
    """application/json or application/<anything>+json, any parameters; or no content-type."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media in ("", "application/json") or (
        media.startswith("application/") and media.endswith("+json")
    )


async def read_json_request(request: Request) -> bytes:
    """The body of an operation that takes JSON, read within the app's body-read deadline.

    JSON only (415 otherwise): a browser posts text/plain and form bodies to any site without
    asking. A body with no content-type is read as JSON: the sample events API Gateway projects
    publish (REST v1 and HTTP API v2) carry none. A browser can send a body without a
    content-type too, so a request a browser marks as coming from another site is refused (403):
    no page elsewhere is served by this API (it sends no CORS headers).
    """
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        raise HTTPException(403, "cross-site browser requests are refused")
    content_type = request.headers.get("content-type")
    if not is_json_media_type(content_type):
        raise HTTPException(
            415, f"content-type {_excerpt_text(content_type or '')!r}: send application/json"
        )
    try:
        async with asyncio.timeout(request.app.state.body_read_timeout_seconds):
            return await request.body()
    except TimeoutError:
        raise BodyReadTimeout from None


def json_body(model: type[Body]) -> Any:
    """`parse_json_body` as a dependency: `body: Annotated[Model, json_body(Model)]`."""

    async def read(request: Request) -> Body:
        return parse_json_body(model, await read_json_request(request))

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


class CaptureHealth(BaseModel):
    status: Literal["ok", "failing", "off"] = Field(
        description="failing: the last capture failed (predictions are answered regardless)."
    )
    errors: int = Field(
        default=0,
        description="Captures that failed since this instance started (also the CaptureErrors "
        "metric).",
    )
    reason: str | None = None


class HealthResponse(BaseModel):
    status: str
    model: str
    version: int | None = None
    stage: str
    reason: str | None = None
    capture: CaptureHealth


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
    detail: list[ValidationIssue] = Field(
        description=f"The first {MAX_REPORTED_ERRORS} errors; inputs cut to an excerpt."
    )
    error_count: int = Field(description="How many errors the body has in all.")


class CaptureTracker:
    """The capture path's state for /health: a prediction never fails because its capture
    did, so a failing capture must be visible here (and in the CaptureErrors metric)."""

    def __init__(self, enabled: bool) -> None:
        self._lock = threading.Lock()
        self.health = CaptureHealth(status="ok" if enabled else "off")

    def succeeded(self) -> None:
        if self.health.status != "ok":
            with self._lock:
                self.health = self.health.model_copy(update={"status": "ok", "reason": None})

    def failed(self, exc: Exception) -> None:
        reason = f"{type(exc).__name__}: {_excerpt_text(str(exc), 200)}"
        with self._lock:
            errors = self.health.errors + 1
            self.health = CaptureHealth(status="failing", errors=errors, reason=reason)


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
    app.add_exception_handler(BodyReadTimeout, body_read_timed_out)
    app.state.body_read_timeout_seconds = body_read_timeout_seconds
    capture_tracker = CaptureTracker(predictions is not None and capture_sample_rate > 0)

    def emit(name: str, value: float, unit: str = "Count", **extra: str) -> None:
        if metrics is None:
            return
        try:
            metrics.put(name, value, unit=unit, dimensions={**dims, **extra})
        except Exception as exc:  # e.g. a full disk under the local metrics file
            log.warning("metric %s not written: %s", name, type(exc).__name__)

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
            403: {"model": ErrorMessage},
            408: {"model": ErrorMessage},
            413: {"model": ErrorMessage},
            415: {"model": ErrorMessage},
            422: {"model": ValidationErrors},
        },
        openapi_extra=json_body_doc(PredictRequest),
    )
    async def predict(request: Request) -> Any:
        body = await read_json_request(request)
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
        parsed = parse_json_body(request_model(loaded), body, records_members)
        records = parsed.records  # type: ignore[attr-defined]
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

    def records_members(parsed: Any) -> int:
        """The members of {"records": [{...}, ...]} (see `parse_json_body`)."""
        return 1 + sum(len(r.model_fields_set) for r in parsed.records)

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
        captured = [
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
        try:
            predictions.record(captured)
        except Exception as exc:  # a full disk, a missing table: the answer goes out anyway
            capture_tracker.failed(exc)
            emit("CaptureErrors", 1)
            log.warning("capture failed: %s", capture_tracker.health.reason)
        else:
            capture_tracker.succeeded()

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
                    capture=capture_tracker.health,
                ).model_dump(),
            )
        return HealthResponse(
            status="ok",
            model=router.model,
            version=loaded.version,
            stage=loaded.stage,
            reason=router.last_error,
            capture=capture_tracker.health,
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
            403: {"model": ErrorMessage},
            404: {"model": ErrorMessage},
            408: {"model": ErrorMessage},
            409: {"model": ErrorMessage},
            415: {"model": ErrorMessage},
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
        try:
            outcome = (
                "unknown"
                if predictions is None
                else predictions.add_feedback(body.prediction_id, label)
            )
        except Exception as exc:
            # Unlike a capture, feedback is what the caller asked for: say it was not stored.
            emit("FeedbackErrors", 1)
            log.warning("feedback not stored: %s", type(exc).__name__)
            return JSONResponse(
                status_code=503,
                content={
                    "detail": f"feedback could not be stored ({type(exc).__name__}); "
                    "try again later"
                },
            )
        if outcome == "unknown":
            return JSONResponse(
                status_code=404,
                content={"detail": f"prediction {body.prediction_id} was not captured"},
            )
        if outcome == "already_labelled":
            return JSONResponse(
                status_code=409,
                content={
                    "detail": f"prediction {body.prediction_id} already has feedback: "
                    "a prediction is labelled once"
                },
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
    """The 422 of every operation: bounded whatever the client sent (the first errors, each
    with an excerpt of its input) and encodable (FastAPI's own handler fails, a 500, on an
    input JSON cannot carry). Nothing of the input is logged."""
    errors = exc.errors()
    return JSONResponse(
        status_code=422,
        content={
            "detail": [_safe_error(e) for e in errors[:MAX_REPORTED_ERRORS]],
            "error_count": getattr(exc, "count", len(errors)),
        },
    )


async def body_read_timed_out(request: Request, exc: Exception) -> JSONResponse:
    seconds = request.app.state.body_read_timeout_seconds
    return JSONResponse(
        status_code=408,
        content={"detail": f"the request body did not arrive within {seconds:g} s"},
        headers={"connection": "close"},  # the rest of the body is never read
    )


def _safe_error(error: Any) -> dict[str, Any]:
    """Where (a location), what (type and message) and a bounded excerpt of the input."""
    entry: dict[str, Any] = {
        "loc": [_excerpt_text(p) if isinstance(p, str) else p for p in error["loc"]],
        "msg": _excerpt_text(str(error["msg"]), 4 * EXCERPT_CHARS),
        "type": str(error["type"]),
    }
    if "input" in error:
        entry["input"] = _excerpt(error["input"])
    if error.get("ctx"):
        entry["ctx"] = {str(k): _ctx_value(v) for k, v in error["ctx"].items()}
    return entry


def _excerpt_text(text: str, limit: int = EXCERPT_CHARS) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _excerpt(value: Any) -> Any:
    """An echoed input, short and encodable: a body that is not UTF-8 JSON and containers as
    a description (a missing field's input is its whole record), text cut to an excerpt, NaN
    and infinities (which Python's json and pydantic-core parse, 1e400 included) by the names
    clients write them with."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if value.bit_length() <= 256 else f"<integer of {value.bit_length()} bits>"
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, str):
        return _excerpt_text(value)
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes of invalid JSON>"
    if isinstance(value, dict):
        return f"<object of {len(value)} keys>"
    if isinstance(value, list | tuple):
        return f"<array of {len(value)} items>"
    return _excerpt_text(repr(value))


def _ctx_value(value: Any) -> Any:
    """A limit in an error's context as JSON has it (`"min_length": 1`), anything else (an
    exception, a pattern) as bounded text."""
    return _excerpt(value) if isinstance(value, int | float) else _excerpt_text(str(value))


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
    )
