"""Scoring: a /predict body in, the predictions out, with their captures and metrics.

`Scorer.score` validates the records against the served version's own record model, scores
them with ONNX Runtime (and, when a shadow is staged, scores them again with the challenger,
whose answer is measured and never returned), samples them into the prediction log and emits
the request's metrics. A capture that fails never fails the prediction: `CaptureTracker` keeps
that failure visible on /health instead. Nothing here knows about HTTP.
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, create_model

from mlops_template.core.ports import MetricsSink, PredictionLog
from mlops_template.core.records import PredictionRecord
from mlops_template.core.serving.bodies import excerpt_text, parse_json_body, records_members
from mlops_template.core.serving.router import LoadedModel, ModelRouter, Route
from mlops_template.core.serving.schemas import CaptureHealth

log = logging.getLogger(__name__)


class NonFiniteOutput(ArithmeticError):
    """The model computed NaN or an infinity for a valid record: a server fault (500)."""


class Emitter:
    """The API's metrics, dimensioned by model and stage; a metric that cannot be written is a
    warning, never a failed request."""

    def __init__(self, metrics: MetricsSink | None, router: ModelRouter) -> None:
        self._metrics = metrics
        self._dims = {"model": router.model, "stage": router.stage}

    def __call__(self, name: str, value: float, unit: str = "Count", **extra: str) -> None:
        if self._metrics is None:
            return
        try:
            self._metrics.put(name, value, unit=unit, dimensions={**self._dims, **extra})
        except Exception as exc:  # e.g. a full disk under the local metrics file
            log.warning("metric %s not written: %s", name, type(exc).__name__)


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
        reason = f"{type(exc).__name__}: {excerpt_text(str(exc), 200)}"
        with self._lock:
            errors = self.health.errors + 1
            self.health = CaptureHealth(status="failing", errors=errors, reason=reason)


def peak_memory_mb() -> float:
    """The process's peak resident memory (what a Lambda's memory limit is measured against)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def top_probabilities(probabilities: np.ndarray) -> list[float]:
    """Each record's probability of its predicted (most probable) class, rounded."""
    return list(probabilities.max(axis=1).round(6).tolist())


def _response(loaded: LoadedModel, answers: list[dict[str, Any]]) -> dict[str, Any]:
    """The PredictResponse payload: which model answered, and its answers."""
    return {
        "model": loaded.record.model,
        "version": loaded.version,
        "stage": loaded.stage,
        "predictions": answers,
    }


@dataclass(frozen=True)
class ServingLimits:
    """How much the API takes per request and how much of it the prediction log keeps."""

    max_body_bytes: int
    max_batch_records: int
    capture_sample_rate: float
    capture_max_records: int


class Scorer:
    """Scores /predict bodies with the router's models; one per app."""

    def __init__(
        self,
        router: ModelRouter,
        limits: ServingLimits,
        emit: Emitter,
        predictions: PredictionLog | None,
    ) -> None:
        self.router = router
        self.limits = limits
        self.emit = emit
        self.predictions = predictions
        self.captures = CaptureTracker(predictions is not None and limits.capture_sample_rate > 0)
        self._request_models: dict[tuple[str, int], type[BaseModel]] = {}

    def request_model(self, loaded: LoadedModel) -> type[BaseModel]:
        """{"records": [Record, ...]} for this version's schema, built once per version
        (versions are immutable, so the key can never point at another schema)."""
        key = (loaded.record.model, loaded.version)
        if key not in self._request_models:
            self._request_models[key] = create_model(
                "PredictRequest",
                __config__=ConfigDict(extra="forbid"),
                records=(
                    list[loaded.schema.record_model],  # type: ignore[name-defined]
                    Field(min_length=1, max_length=self.limits.max_batch_records),
                ),
            )
        return self._request_models[key]

    def score(
        self, body: bytes, *, entities: list[dict[str, str]] | None = None
    ) -> dict[str, Any] | None:
        """The PredictResponse payload for a body, or None when no model is loaded. An invalid
        body raises `BodyValidationError` (a 422)."""
        started = time.perf_counter()
        route = self.router.route()
        if route is None:
            self.emit("PredictionErrors", 1)
            return None
        parsed = parse_json_body(self.request_model(route.serving), body, records_members)
        return self.score_records(route, parsed.records, started=started, entities=entities)  # type: ignore[attr-defined]

    def score_records(
        self,
        route: Route,
        records: list[BaseModel],
        *,
        ids: list[str] | None = None,
        started: float | None = None,
        entities: list[dict[str, str]] | None = None,
    ) -> dict[str, Any]:
        """The PredictResponse payload for records already validated against the serving
        version's record model (captured, shadowed and measured like /predict's); `ids` names
        the predictions (a random base per request by default)."""
        started = time.perf_counter() if started is None else started
        loaded = route.serving
        if loaded.regression:
            return self._score_values(route, records, ids=ids, started=started)
        unknown = loaded.unknown_categories.count(records)
        labels, probabilities = loaded.classifier.predict_objects(records)
        # Counted before anything uses them: a NaN or infinite output is a broken model or
        # runtime, whatever the answer then becomes (the NonFiniteOutputs alarm watches it).
        non_finite = int((~np.isfinite(probabilities)).any(axis=1).sum())
        self.emit("NonFiniteOutputs", non_finite)
        if non_finite:  # never answered: NaN is not JSON, and no caller can act on it
            raise NonFiniteOutput(
                f"{loaded.record.model} v{loaded.version} computed a non-finite probability "
                f"for {non_finite} of {len(records)} records"
            )
        top = top_probabilities(probabilities)
        if ids is None:
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
        payload = _response(loaded, answers)
        capture = self._sampled()
        if capture:
            self._capture(loaded, ids, records, labels, top, entities)
        if route.shadow is not None:
            self._shadow(route.shadow, ids, records, labels, capture)
        self._emit_request(loaded, labels, unknown, started)
        return payload

    def _sampled(self) -> bool:
        """Whether this request's records are captured (the configured sample rate)."""
        return self.predictions is not None and random.random() < self.limits.capture_sample_rate

    def _score_values(
        self, route: Route, records: list[BaseModel], *, ids: list[str] | None, started: float
    ) -> dict[str, Any]:
        """Regression: a value per record (and its interval when the model was calibrated)."""
        loaded = route.serving
        unknown = loaded.unknown_categories.count(records)
        values = loaded.regressor.predict_objects(records)
        if ids is None:
            base = secrets.token_hex(10)
            ids = [f"{base}{i:06x}" for i in range(len(values))]
        rounded = [float(v) for v in values.astype(np.float32).tolist()]
        answers: list[dict[str, Any]] = [
            {"prediction_id": i, "value": v} for i, v in zip(ids, rounded, strict=True)
        ]
        intervals = loaded.regressor.intervals(values)
        if intervals is not None:
            for answer, (low, high) in zip(answers, intervals.tolist(), strict=True):
                answer["interval"] = [low, high]
        payload = _response(loaded, answers)
        capture = self._sampled()
        if capture:
            self._capture_values(loaded, ids, records, rounded)
        if route.shadow is not None:
            shadow_values = route.shadow.regressor.predict_objects(records)
            self.emit(
                "ShadowMeanAbsDifference",
                float(np.mean(np.abs(shadow_values - values))),
                "None",
                version=str(route.shadow.version),
            )
            if capture:
                self._capture_values(
                    route.shadow,
                    [f"{i}-shadow" for i in ids],
                    records,
                    [float(v) for v in shadow_values.tolist()],
                )
        version = str(loaded.version)
        self.emit("Predictions", len(answers), version=version)
        for feature, count in unknown.items():
            self.emit("UnknownCategories", count, version=version, feature=feature)
        latency_ms = (time.perf_counter() - started) * 1000
        self.emit("PredictionLatency", latency_ms, "Milliseconds", version=version)
        return payload

    def _capture_values(
        self, loaded: LoadedModel, ids: list[str], records: list[BaseModel], values: list[float]
    ) -> None:
        n = self.limits.capture_max_records
        self._store(
            [
                PredictionRecord(
                    prediction_id=i,
                    model=loaded.record.model,
                    version=loaded.version,
                    stage=loaded.stage,
                    features=r.model_dump(),
                    value=v,
                )
                for i, r, v in zip(ids[:n], records[:n], values[:n], strict=True)
            ]
        )

    def _shadow(
        self,
        shadow: LoadedModel,
        ids: list[str],
        records: list[BaseModel],
        labels: list[str],
        capture: bool,
    ) -> None:
        """The challenger scores the same records; its answer is measured, never returned."""
        shadow_labels, shadow_probabilities = shadow.classifier.predict_objects(records)
        agreement = sum(a == b for a, b in zip(labels, shadow_labels, strict=True))
        self.emit("ShadowAgreement", agreement / len(labels), "None", version=str(shadow.version))
        if capture:
            self._capture(
                shadow,
                [f"{i}-shadow" for i in ids],
                records,
                shadow_labels,
                top_probabilities(shadow_probabilities),
            )

    def _emit_request(
        self, loaded: LoadedModel, labels: list[str], unknown: dict[str, int], started: float
    ) -> None:
        version = str(loaded.version)
        self.emit("Predictions", len(labels), version=version)
        for feature, count in unknown.items():
            self.emit("UnknownCategories", count, version=version, feature=feature)
        for label in set(labels):
            self.emit("PredictedLabel", labels.count(label), version=version, label=label)
        latency_ms = (time.perf_counter() - started) * 1000
        self.emit("PredictionLatency", latency_ms, "Milliseconds", version=version)
        # Per version, so a canary's footprint is compared with production's on one graph.
        self.emit("MemoryUsedMB", peak_memory_mb(), "Megabytes", version=version)

    def _capture(
        self,
        loaded: LoadedModel,
        ids: list[str],
        records: list[BaseModel],
        labels: list[str],
        top: list[float],
        entities: list[dict[str, str]] | None = None,
    ) -> None:
        assert self.predictions is not None
        n = self.limits.capture_max_records
        captured = [
            PredictionRecord(
                prediction_id=i,
                model=loaded.record.model,
                version=loaded.version,
                stage=loaded.stage,
                features=r.model_dump(),
                label=label,
                probability=p,
                entities=(entities[k] or None) if entities else None,
            )
            for k, (i, r, label, p) in enumerate(
                zip(ids[:n], records[:n], labels[:n], top[:n], strict=True)
            )
        ]
        self._store(captured)

    def _store(self, captured: list[PredictionRecord]) -> None:
        assert self.predictions is not None
        try:
            self.predictions.record(captured)
        except Exception as exc:  # a full disk, a missing table: the answer goes out anyway
            self.captures.failed(exc)
            self.emit("CaptureErrors", 1)
            log.warning("capture failed: %s", self.captures.health.reason)
        else:
            self.captures.succeeded()
