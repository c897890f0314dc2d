"""The small ports that hide where things live. Each has a local and an AWS adapter."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from mlops_template.core.captures import CaptureColumns, CapturePart
from mlops_template.core.records import (
    FeedbackOutcome,
    ModelVersion,
    PipelineStart,
    PredictionRecord,
    RunRecord,
    StageAlias,
    StageEvent,
    TrainingJob,
)


class BlobNotFound(KeyError):
    """No object under that key."""


class BlobExists(Exception):
    """The key already holds an object, and this write may not replace it."""


class BlobStore(Protocol):
    """A bucket: data files, reports and model artifacts, by key."""

    def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> str:
        """Store bytes; returns their SHA-256 (hex)."""
        ...

    def put_if_absent(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> str:
        """Store bytes only if the key holds nothing yet, atomically; BlobExists otherwise.
        Content-addressed objects and a version's artifacts go through this: never rewritten."""
        ...

    def get(self, key: str) -> bytes: ...

    def download_to(self, key: str, path: str | os.PathLike[str]) -> int:
        """Write an object to a local file in pieces (never the whole object in memory), for
        files of any size; returns the number of bytes. BlobNotFound if it is not there."""
        ...

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int:
        """The object's size in bytes, without reading it; BlobNotFound if there is none."""
        ...

    def keys(self, prefix: str = "") -> list[str]: ...

    def copy(self, source: str, destination: str) -> None:
        """Copy an object; the destination holds either its old state or the whole copy, never
        part of it (a crash mid-copy leaves nothing at the destination)."""
        ...

    def claim(self, source: str, destination: str) -> None:
        """Move one arrival to a key of its own: `destination` receives the bytes `source` held
        at one instant, and `source` is removed only if it still holds exactly those bytes (a
        newer write under the same key stays for its own run). BlobNotFound if it is gone."""
        ...

    def delete(self, key: str) -> None: ...

    def uri(self, key: str) -> str: ...


class ModelRegistry(Protocol):
    """Model versions, one alias per stage, and the history of every stage move."""

    def allocate_version(self, model: str) -> int:
        """Atomically reserve the next version number."""
        ...

    def register(self, version: ModelVersion) -> ModelVersion:
        """Store a version record; fails if that version is already registered."""
        ...

    def get(self, model: str, version: int) -> ModelVersion: ...

    def versions(self, model: str) -> list[ModelVersion]: ...

    def models(self) -> list[str]: ...

    def alias(self, model: str, stage: str) -> StageAlias | None: ...

    def aliases(self, model: str) -> dict[str, StageAlias]: ...

    def move_alias(
        self,
        model: str,
        stage: str,
        new: StageAlias,
        *,
        expected_revision: int,
        event: StageEvent,
    ) -> None:
        """Set the alias and append the event in one atomic write, only if the alias is still at
        `expected_revision` (0 = must not exist). Raises StaleStageError otherwise."""
        ...

    def history(self, model: str, stage: str | None = None) -> list[StageEvent]: ...

    def save_run(self, run: RunRecord) -> None:
        """Store a run record, replacing the earlier record of that run (steps write as they go)."""
        ...

    def get_run(self, model: str, run_id: str) -> RunRecord:
        """RunNotFound if there is none. A run the pipeline's failure state marked (on AWS, the
        definition's Catch) comes back with status "error" and the failure as its reason."""
        ...

    def runs(self, model: str) -> list[RunRecord]:
        """Every run of a model, newest start first."""
        ...


class SigningUnavailable(Exception):
    """This environment has no key to sign exports with."""


class ExportSigner(Protocol):
    """Signs exported version records and checks the signature on import: HMAC-SHA-256 with one
    key per environment (a KMS HMAC key on AWS, a secret locally)."""

    def sign(self, message: bytes) -> tuple[str, str]:
        """(id of the key that signed, MAC as base64)."""
        ...

    def verify(self, message: bytes, mac: str) -> str | None:
        """The id of a trusted key (this environment's or one it imports from) that produced
        `mac` over `message`, or None when none did."""
        ...

    def trusted(self) -> list[str]:
        """The ids of the keys whose signatures imports accept (for messages)."""
        ...


@dataclass(frozen=True)
class MetricPoint:
    name: str
    value: float
    unit: str = "None"
    dimensions: Mapping[str, str] = field(default_factory=dict)


class MetricsSink(ABC):
    """Where metrics go: callers `put` a value, each adapter `write`s the point its way."""

    def put(
        self,
        name: str,
        value: float,
        *,
        unit: str = "None",
        dimensions: Mapping[str, str] | None = None,
    ) -> None:
        self.write(MetricPoint(name, float(value), unit, dict(dimensions or {})))

    @abstractmethod
    def write(self, point: MetricPoint) -> None: ...


class PredictionLog(Protocol):
    """Captured predictions (for drift) and ground-truth feedback (for accuracy).

    Captures are JSON lines partitioned by model/version/date (core/captures.py), written in
    batches (Firehose on AWS), never one database item each; feedback is its own small record,
    joined to captures by prediction id when they are read. The reading methods come from
    `core.captures.CaptureReader`, shared by every adapter."""

    def record(self, predictions: Sequence[PredictionRecord]) -> None:
        """Capture predictions; raises when they were not accepted (the caller counts it and
        answers anyway)."""
        ...

    def add_feedback(self, prediction_id: str, label: str, *, model: str) -> FeedbackOutcome:
        """Store the true label of a prediction of `model`, once: a second label for the same
        id keeps the first ("already_labelled"), atomically even when two labels race. Captures
        are not indexed by id, so a label for an id that was never captured is stored too and
        joins nothing."""
        ...

    def feedback(self, model: str, *, since: str = "") -> dict[str, str]:
        """Prediction id -> true label, for feedback given on a model at or after `since`."""
        ...

    def parts(self, model: str, start: datetime, end: datetime) -> list[CapturePart]:
        """The capture objects that may hold captures of [start, end)."""
        ...

    def rows(
        self, part: CapturePart, start: datetime | None = None, end: datetime | None = None
    ) -> Iterator[dict[str, Any]]:
        """One capture object's captures as dicts, streamed, those of [start, end) if given."""
        ...

    def columns(
        self,
        part: CapturePart,
        numeric: Sequence[str],
        categorical: Sequence[str],
        start: datetime,
        end: datetime,
        *,
        shadow: bool = False,
    ) -> Iterator[CaptureColumns]:
        """One object's served captures of [start, end) as column blocks (for millions); with
        `shadow`, the shadow's answers too."""
        ...

    def window(
        self, model: str, start: datetime, end: datetime, *, labels: Mapping[str, str] | None = None
    ) -> Iterator[PredictionRecord]:
        """Every capture of [start, end) with its feedback, in bounded memory."""
        ...

    def recent(self, model: str, *, limit: int = 10_000) -> list[PredictionRecord]:
        """The newest captured predictions of a model, newest first, with their feedback."""
        ...

    def forget(self, model: str, key: str, values: Collection[str]) -> int:
        """Delete every captured prediction of `model` whose feature `key` (compared as text)
        is one of `values` (a person's right to erasure); returns how many were deleted."""
        ...


class ResultQueue(Protocol):
    """Where streaming scoring sends its results: one message per scored input message."""

    def send(self, body: str) -> None:
        """Send one message; raises when it was not accepted (the input is then retried)."""
        ...


class TrainingLauncher(Protocol):
    """Runs training somewhere else (SageMaker) and reports on it."""

    def start(
        self, *, model: str, run_id: str, dataset_uri: str, schema_uri: str, config_json: str
    ) -> TrainingJob: ...

    def status(self, name: str) -> TrainingJob: ...


class RunTracker(Protocol):
    """Somewhere else a finished run is also shown (MLflow's tracking server, say). The
    registry's run record stays the record: a tracker only mirrors it, and one that fails does
    not fail the run."""

    def run_ended(self, run: RunRecord, artifacts: Mapping[str, bytes]) -> None:
        """Log an ended run; `artifacts` maps file names to their bytes (`model.onnx` when the
        run produced a model). Called again for the same run (a retried step), it updates what
        it logged the first time rather than logging a second run."""
        ...


class TrackerUnavailable(RuntimeError):
    """A tracker is configured but cannot be built here (its library is not installed)."""


class PipelineStarter(Protocol):
    def start(self, model: str, key: str, *, token: str, reason: str) -> PipelineStart:
        """Start the pipeline for a data file. The same token never starts two runs."""
        ...
