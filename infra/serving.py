"""Which model the API serves: resolve the stage alias, fetch and verify, load once, refresh.

A model is loaded only after its artifacts match the SHA-256 the registry recorded. When the
stage moves, the next check loads the new version without a cold start; when loading fails
(missing or tampered artifact, registry unreachable) the last good model keeps serving and the
failure is reported on /health and as a metric.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter

from infra.artifacts import read_verified
from infra.ports import BlobStore, MetricsSink
from infra.records import ModelVersion
from infra.registry import Registry
from training.onnx_model import OnnxClassifier
from training.schema import DatasetSchema
from training.train import MODEL_FILE, SCHEMA_FILE


@dataclass
class LoadedModel:
    record: ModelVersion
    stage: str
    schema: DatasetSchema
    classifier: OnnxClassifier
    records: TypeAdapter[list[Any]] = field(repr=False)
    loaded_at: float = field(default_factory=time.time)

    @property
    def version(self) -> int:
        return self.record.version


def load_model(
    registry: Registry, artifacts: BlobStore, model: str, version: int, stage: str
) -> LoadedModel:
    record = registry.get(model, version)
    schema = DatasetSchema.from_json(read_verified(artifacts, record.artifacts[SCHEMA_FILE]))
    classifier = OnnxClassifier(read_verified(artifacts, record.artifacts[MODEL_FILE]), schema)
    return LoadedModel(
        record=record,
        stage=stage,
        schema=schema,
        classifier=classifier,
        records=TypeAdapter(list[schema.record_model]),  # type: ignore[name-defined]
    )


class ModelProvider:
    def __init__(
        self,
        registry: Registry,
        artifacts: BlobStore,
        model: str,
        stage: str,
        *,
        refresh_seconds: float = 30.0,
        metrics: MetricsSink | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.artifacts = artifacts
        self.model = model
        self.stage = stage
        self.refresh_seconds = refresh_seconds
        self.metrics = metrics
        self.clock = clock
        self.last_error: str | None = None
        self._current: LoadedModel | None = None
        self._checked_at: float | None = None
        self._lock = threading.Lock()

    def get(self) -> LoadedModel | None:
        """The model to serve now; checks the stage alias at most every `refresh_seconds`."""
        now = self.clock()
        if self._checked_at is None or now - self._checked_at >= self.refresh_seconds:
            with self._lock:
                if self._checked_at is None or now - self._checked_at >= self.refresh_seconds:
                    self._checked_at = now
                    self._refresh()
        return self._current

    def _fail(self, metric: str, message: str) -> None:
        self.last_error = message
        if self.metrics is not None:
            self.metrics.put(metric, 1, unit="Count", dimensions={"model": self.model})

    def _refresh(self) -> None:
        try:
            alias = self.registry.store.alias(self.model, self.stage)
        except Exception as exc:  # any adapter error: keep serving what we have
            self._fail("RegistryUnavailable", f"registry unreachable: {exc}")
            return
        if alias is None:
            if self._current is None:
                self.last_error = f"no version of {self.model} is in {self.stage}"
            return
        if self._current is not None and self._current.version == alias.version:
            self.last_error = None
            return
        try:
            self._current = load_model(
                self.registry, self.artifacts, self.model, alias.version, self.stage
            )
            self.last_error = None
        except Exception as exc:
            self._fail(
                "ModelLoadFailed",
                f"cannot load {self.model} v{alias.version}: {type(exc).__name__}: {exc}",
            )
