"""Which model the API serves: resolve the stage alias, fetch and verify, load once, refresh.

A model is loaded only after its artifacts match the SHA-256 the registry recorded. When the
stage moves, the next check loads the new version without a cold start; when loading fails
(missing or tampered artifact, registry unreachable) the last good model keeps serving and the
failure is reported on /health and as a metric.
"""

from __future__ import annotations

import gc
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from mlops_template.core.artifacts import read_verified
from mlops_template.core.ports import BlobStore, MetricsSink
from mlops_template.core.records import ModelVersion
from mlops_template.core.registry import Registry
from mlops_template.training.files import MODEL_FILE, SCHEMA_FILE
from mlops_template.training.onnx_model import OnnxClassifier, OnnxRegressor, load_onnx_model
from mlops_template.training.schema import DatasetSchema


class UnknownCategories:
    """Values of categorical features that the schema does not list, counted per feature.

    The model scores them without a word (one-hot encoding ignores an unknown category), so a
    client sending "Paris " for "Paris" gets answers from a model that never saw that input:
    the API counts them per request (a metric) and since the model was loaded (`/model`).
    A missing value is not unknown: the schema says whether a feature may be missing.
    """

    def __init__(self, schema: DatasetSchema) -> None:
        self._known = {
            c.name: frozenset(c.categories) for c in schema.columns if c.kind == "categorical"
        }
        self._since_load: Counter[str] = Counter()
        self._lock = threading.Lock()  # requests are scored on a thread pool

    def count(self, records: Sequence[object]) -> dict[str, int]:
        """Per feature, how many of these validated records carry an unknown category; the
        counts are added to the running totals."""
        found: dict[str, int] = {}
        for name, known in self._known.items():
            # str(): booleans are categories spelled "True"/"False", as the model sees them.
            n = sum(
                1 for r in records if (v := getattr(r, name)) is not None and str(v) not in known
            )
            if n:
                found[name] = n
        if found:
            with self._lock:
                self._since_load.update(found)
        return found

    def since_load(self) -> dict[str, int]:
        """Every categorical feature with its running count (0 included)."""
        with self._lock:
            return {name: self._since_load[name] for name in self._known}


@dataclass
class LoadedModel:
    record: ModelVersion
    stage: str
    schema: DatasetSchema
    scorer: OnnxClassifier | OnnxRegressor
    loaded_at: float = field(default_factory=time.time)
    weight: float | None = None
    unknown_categories: UnknownCategories = field(init=False)

    def __post_init__(self) -> None:
        self.unknown_categories = UnknownCategories(self.schema)

    @property
    def version(self) -> int:
        return self.record.version

    @property
    def regression(self) -> bool:
        return isinstance(self.scorer, OnnxRegressor)

    @property
    def classifier(self) -> OnnxClassifier:
        if not isinstance(self.scorer, OnnxClassifier):
            raise TypeError(f"v{self.version} is a regression model: it has no classes")
        return self.scorer

    @property
    def regressor(self) -> OnnxRegressor:
        if not isinstance(self.scorer, OnnxRegressor):
            raise TypeError(f"v{self.version} is a classifier: it predicts no value")
        return self.scorer


def load_model(
    registry: Registry, artifacts: BlobStore, model: str, version: int, stage: str
) -> LoadedModel:
    record = registry.get(model, version)
    schema = DatasetSchema.from_json(read_verified(artifacts, record.artifacts[SCHEMA_FILE]))
    scorer = load_onnx_model(read_verified(artifacts, record.artifacts[MODEL_FILE]), schema)
    return LoadedModel(record=record, stage=stage, schema=schema, scorer=scorer)


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
            alias = self.registry.alias(self.model, self.stage)
        except Exception as exc:  # any adapter error: keep serving what we have
            self._fail("RegistryUnavailable", f"registry unreachable: {exc}")
            return
        if alias is None:
            if self._current is None:
                self.last_error = f"no version of {self.model} is in {self.stage}"
            return
        if self._current is not None and self._current.version == alias.version:
            self._current.weight = alias.weight
            self.last_error = None
            return
        try:
            loaded = load_model(
                self.registry, self.artifacts, self.model, alias.version, self.stage
            )
            loaded.weight = alias.weight
            self._current = loaded
            self.last_error = None
        except Exception as exc:
            self._fail(
                "ModelLoadFailed",
                f"cannot load {self.model} v{alias.version}: {type(exc).__name__}: {exc}",
            )


@dataclass
class Route:
    serving: LoadedModel
    shadow: LoadedModel | None = None


class ModelRouter:
    """Champion, canary and shadow for one served stage.

    A `canary` alias with weight w answers that share of requests; a `shadow` alias scores every
    request too, but only the champion's (or canary's) answer is returned.
    """

    def __init__(
        self,
        registry: Registry,
        artifacts: BlobStore,
        model: str,
        stage: str = "production",
        *,
        refresh_seconds: float = 30.0,
        metrics: MetricsSink | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        def provider(name: str) -> ModelProvider:
            return ModelProvider(
                registry, artifacts, model, name, refresh_seconds=refresh_seconds, metrics=metrics
            )

        self.primary = provider(stage)
        # Canary and shadow only make sense around production.
        self.challengers = (
            (provider("canary"), provider("shadow")) if stage == "production" else None
        )
        self.rng = rng

    @property
    def model(self) -> str:
        return self.primary.model

    @property
    def stage(self) -> str:
        return self.primary.stage

    @property
    def last_error(self) -> str | None:
        return self.primary.last_error

    def get(self) -> LoadedModel | None:
        return self.primary.get()

    def route(self) -> Route | None:
        champion = self.primary.get()
        if champion is None:
            return None
        if self.challengers is None:
            return Route(serving=champion)
        canary, shadow = (p.get() for p in self.challengers)
        serving = champion
        if (
            canary is not None
            and canary.version != champion.version
            and canary.weight
            and self.rng() < canary.weight
        ):
            serving = canary
        if shadow is not None and shadow.version == serving.version:
            shadow = None
        return Route(serving=serving, shadow=shadow)


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection while a request runs.

    A batch allocates a few objects per record, all freed by reference counting; the collections
    their allocation triggers would rescan the whole heap (app, schemas, model) for nothing and
    cost a third of a 10,000-record request. Collection resumes when the request ends.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
