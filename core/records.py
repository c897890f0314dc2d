"""What the registry and the prediction log store: plain pydantic records shared by all adapters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from mlops_template.training.config import ModelName

STAGES = ("staging", "production", "canary", "shadow")
Stage = Literal["staging", "production", "canary", "shadow"]


def version_label(version: int | None) -> str:
    """ "v3", or "no version" where a stage or an API serves none (never "vNone")."""
    return "no version" if version is None else f"v{version}"


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class ArtifactRef(BaseModel):
    key: str
    uri: str
    sha256: str
    size_bytes: int = 0


class ModelVersion(BaseModel):
    model: ModelName  # an imported record names the keys its artifacts are written under
    version: int
    created_at: str = Field(default_factory=utc_now)
    created_by: str = "unknown"
    run_id: str
    source: str = Field(description="The data set the version was trained on (URI).")
    data_sha256: str
    model_sha256: str
    code_version: str
    schema_fingerprint: str
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    gate: dict[str, Any]
    config: dict[str, Any]
    library_versions: dict[str, str] = Field(default_factory=dict)
    timings: dict[str, float] = Field(default_factory=dict)
    artifacts: dict[str, ArtifactRef]
    lineage: dict[str, Any] = Field(
        default_factory=dict,
        description="Where an imported version came from (environment, version).",
    )
    data_newest_timestamp: str | None = Field(
        default=None,
        description="The newest timestamp of its training data (time.column; ISO 8601, UTC): "
        "what its training-data age (ModelDataAgeHours) counts from.",
    )
    training_set: dict[str, Any] | None = Field(
        default=None,
        description="When trained from feature views: the views and their versions, the label "
        "file's SHA-256 and the history's write time (docs/feature-store.md).",
    )

    @property
    def gate_passed(self) -> bool:
        return bool(self.gate.get("passed"))


class StageAlias(BaseModel):
    stage: str
    version: int
    revision: int = Field(description="Bumped on every move: the optimistic-lock token.")
    previous: list[int] = Field(
        default_factory=list, description="Earlier versions of this stage, newest last."
    )
    weight: float | None = Field(default=None, description="Traffic share (canary only).")
    updated_at: str = Field(default_factory=utc_now)
    updated_by: str = "unknown"


class StageEvent(BaseModel):
    model: str
    stage: str
    action: Literal["promote", "rollback"]
    from_version: int | None
    to_version: int
    revision: int
    actor: str
    reason: str = ""
    at: str = Field(default_factory=utc_now)


class ConfigChange(BaseModel):
    """One change of a model's stored training config: who, when, what, and the result."""

    at: str = Field(default_factory=utc_now)
    by: str = "unknown"
    changes: list[str]
    config: dict[str, Any]


FeedbackOutcome = Literal["recorded", "unknown", "already_labelled"]
"""What storing a true label did: stored it; found no such prediction; found one already labelled
(feedback is write-once: a second label, right or wrong, changes nothing)."""


class PredictionRecord(BaseModel):
    prediction_id: str
    model: str
    version: int
    stage: str
    at: str = Field(default_factory=utc_now)
    features: dict[str, Any]
    label: str = Field(default="", description="The predicted class (classification).")
    probability: float | None = Field(default=None, description="Of the predicted class.")
    value: float | None = Field(default=None, description="The predicted value (regression).")
    true_label: str | None = Field(
        default=None, description="The truth from feedback: a class, or a number as text."
    )
    # An entity record's join keys (`{"customer_id": "c42"}`): its features came from the online
    # store, and the monitor checks them against the offline history. Absent otherwise.
    entities: dict[str, str] | None = None

    @property
    def true_value(self) -> float | None:
        """A regression's numeric truth (stored as text like a class, so every prediction
        log keeps one string column for feedback)."""
        return None if self.true_label is None else float(self.true_label)


def feature_text(value: Any) -> str | None:
    """A captured feature value as the text `mlops data forget` compares: 3.0 and "3" are "3"."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


RunStatus = Literal[
    "running", "registered", "gate_failed", "rejected_data", "not_selected", "error"
]
RUN_STATUSES: tuple[str, ...] = RunStatus.__args__  # type: ignore[attr-defined]


class RunRecord(BaseModel):
    """One training run, whatever became of it: what a person lists, compares and reproduces.
    Written by the pipeline's steps as they go; a run that stops early keeps what it reached."""

    model: ModelName
    run_id: str
    status: RunStatus = "running"
    reason: str = Field(default="", description="Why it ended as it did (gate, data, error).")
    started_at: str = Field(default_factory=utc_now)
    ended_at: str | None = None
    source: str = Field(default="", description="The data file the run read.")
    actor: str = "unknown"
    config: dict[str, Any] = Field(default_factory=dict)
    data_sha256: str = ""
    data_newest_timestamp: str | None = Field(
        default=None, description="The newest timestamp the data file held (time.column)."
    )
    rows: dict[str, int] = Field(default_factory=dict, description="e.g. train, test.")
    code_version: str = ""
    metrics: dict[str, float] = Field(default_factory=dict)
    baseline_metrics: dict[str, float] = Field(default_factory=dict)
    version: int | None = Field(default=None, description="The version it became, if any.")
    sweep: str | None = Field(default=None, description="The sweep it was a trial of, if any.")
    config_sha256: str = Field(default="", description="Content hash of the config it ran.")
    assessment: dict[str, Any] = Field(
        default_factory=dict,
        description="Lift bound, simple model, importance, ablation, tuning, slices, fairness, "
        "staleness (training/assessment.py).",
    )

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """The model's algorithm and its parameters, flat (`algorithm`, `params.max_depth`...)."""
        model = self.config.get("model", {})
        flat: dict[str, Any] = {"algorithm": model.get("algorithm")}
        flat.update({f"params.{k}": v for k, v in sorted(model.get("params", {}).items())})
        return flat

    def ended(self, status: RunStatus, reason: str = "", **changes: Any) -> RunRecord:
        return self.model_copy(
            update={"status": status, "reason": reason, "ended_at": utc_now(), **changes}
        )


def failure_reason(error: str, cause: str, limit: int = 500) -> str:
    """One line from a Step Functions failure: a Lambda's cause is its error as JSON."""
    import json

    try:
        detail = json.loads(cause)
        message = f"{detail.get('errorType', error)}: {detail.get('errorMessage', '')}"
    except (ValueError, AttributeError):
        message = f"{error}: {cause}" if cause else error
    return message if len(message) <= limit else message[: limit - 3] + "..."


class TrainingJob(BaseModel):
    name: str
    status: Literal["InProgress", "Completed", "Failed", "Stopping", "Stopped"]
    failure_reason: str | None = None
    model_artifacts: str | None = Field(default=None, description="S3 URI of model.tar.gz.")


class PipelineStart(BaseModel):
    execution: str
    started: bool = Field(description="False when a run with this token already existed.")
