"""Every production release through a canary: the operational check before promotion.

`start_canary` points the canary alias at the new version with a traffic weight and stores a
plan (`canaries/<model>.json`): the window, the minimum traffic and the thresholds. The
scheduled monitor calls `advance_canary` on each run; once the window has passed it decides
from what the canary really served:

- traffic: at least `min_requests` captured canary answers, else the canary keeps running
  (up to `max_window_factor` windows, then it is retired: a canary nobody used proves nothing);
- numerical health: no non-finite probability among them;
- agreement: the production version scores the same captured requests offline; the share of
  equal labels must reach `min_agreement` (the shadow agreement, measured on the canary's own
  traffic);
- the A/B decision, where an A/B test of this canary is running: its `rollback` retires the
  canary, its `continue` waits, its `promote` promotes.

The monitor only reads (`check_canary` publishes `CanaryDecided`); the rollback function, whose
role may move stages, applies the decision when that metric's alarm fires (`advance_canary`),
as it applies an A/B test's. `mlops monitor` applies it in the same run.

Then it promotes (production -> the canary's version, conditional on production not having
moved) or retires the canary (it points back at production's version, recorded as a rollback).
The API's 5xx and latency alarms roll a fresh production promotion back as before.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, Field

from mlops_template.core.abtest import abtest_status, load_plan
from mlops_template.core.artifacts import read_verified
from mlops_template.core.backend import Backend
from mlops_template.core.ports import BlobNotFound
from mlops_template.core.records import PredictionRecord, StageEvent, utc_now
from mlops_template.core.registry import RegistryError, StaleStageError
from mlops_template.training.files import MODEL_FILE, SCHEMA_FILE
from mlops_template.training.onnx_model import OnnxClassifier
from mlops_template.training.schema import DatasetSchema

DEFAULT_WINDOW_SECONDS = 3600
DEFAULT_WEIGHT = 0.1
DEFAULT_MIN_REQUESTS = 100
DEFAULT_MIN_AGREEMENT = 0.9


def canary_key(model: str) -> str:
    return f"canaries/{model}.json"


class CanaryPlan(BaseModel):
    model: str
    version: int
    production_version: int | None
    weight: float
    window_seconds: int = Field(ge=0)
    min_requests: int = Field(default=DEFAULT_MIN_REQUESTS, ge=1)
    min_agreement: float = Field(default=DEFAULT_MIN_AGREEMENT, ge=0, le=1)
    max_window_factor: int = Field(default=24, ge=1)
    started_at: str = Field(default_factory=utc_now)
    started_by: str = "unknown"


class CanaryVerdict(BaseModel):
    model: str
    version: int
    decision: str = Field(description="promote, rollback or continue")
    reason: str
    requests: int = 0
    agreement: float | None = None
    non_finite: int = 0
    event: StageEvent | None = None


class NoCanary(RegistryError):
    """No canary release is running for this model."""


def load_canary(backend: Backend, model: str) -> CanaryPlan | None:
    try:
        return CanaryPlan.model_validate_json(backend.artifacts.get(canary_key(model)))
    except BlobNotFound:
        return None


def start_canary(
    backend: Backend,
    model: str,
    version: int,
    *,
    actor: str,
    weight: float = DEFAULT_WEIGHT,
    window_seconds: int = DEFAULT_WINDOW_SECONDS,
    min_requests: int = DEFAULT_MIN_REQUESTS,
    min_agreement: float = DEFAULT_MIN_AGREEMENT,
    reason: str = "",
) -> CanaryPlan:
    """The version serves `weight` of production's traffic; the monitor decides after the
    window. Without a production version there is nothing to compare with: refused (the first
    release is a direct promotion)."""
    production = backend.registry.current(model, "production")
    if production is None:
        raise NoCanary(f"{model} has no production version to canary against: promote directly")
    if production.version == version:
        raise NoCanary(f"production of {model} already serves v{version}")
    backend.registry.promote(
        model,
        version,
        "canary",
        actor=actor,
        weight=weight,
        reason=reason or f"canary release of v{version} to production",
    )
    plan = CanaryPlan(
        model=model,
        version=version,
        production_version=production.version,
        weight=weight,
        window_seconds=window_seconds,
        min_requests=min_requests,
        min_agreement=min_agreement,
        started_by=actor,
    )
    backend.artifacts.put(
        canary_key(model), plan.model_dump_json(indent=2).encode(), content_type="application/json"
    )
    return plan


def _classifier(backend: Backend, model: str, version: int) -> OnnxClassifier | None:
    """Production's classifier, to measure agreement; None for a regression (agreement of
    labels means nothing there: the canary is judged on its window and non-finite values)."""
    record = backend.registry.get(model, version)
    schema = DatasetSchema.from_json(
        read_verified(backend.artifacts, record.artifacts[SCHEMA_FILE])
    )
    if schema.target.task == "regression":
        return None
    return OnnxClassifier(read_verified(backend.artifacts, record.artifacts[MODEL_FILE]), schema)


def _output(record: PredictionRecord) -> float:
    """What was served: the class probability, or a regression's value (NaN when absent)."""
    value = record.probability if record.probability is not None else record.value
    return math.nan if value is None else value


def evaluate_canary(
    backend: Backend, plan: CanaryPlan, *, now: datetime | None = None, limit: int = 100_000
) -> CanaryVerdict:
    verdict = CanaryVerdict(model=plan.model, version=plan.version, decision="continue", reason="")
    started = datetime.fromisoformat(plan.started_at)
    elapsed = ((now or datetime.now(UTC)) - started).total_seconds()
    served = [
        p
        for p in backend.predictions.recent(plan.model, limit=limit)
        if p.version == plan.version and p.stage == "canary" and p.at >= plan.started_at
    ]
    verdict.requests = len(served)
    verdict.non_finite = sum(not math.isfinite(_output(p)) for p in served)
    if verdict.non_finite:
        verdict.decision, verdict.reason = "rollback", f"{verdict.non_finite} non-finite outputs"
        return verdict
    if elapsed < plan.window_seconds:
        verdict.reason = f"window: {elapsed:.0f}s of {plan.window_seconds}s"
        return verdict
    if len(served) < plan.min_requests:
        if elapsed >= plan.window_seconds * plan.max_window_factor:
            verdict.decision = "rollback"
            verdict.reason = f"only {len(served)} canary requests in {elapsed:.0f}s"
        else:
            verdict.reason = f"{len(served)} of {plan.min_requests} canary requests"
        return verdict
    production = (
        _classifier(backend, plan.model, plan.production_version)
        if plan.production_version is not None
        else None
    )
    if production is not None:
        labels, _ = production.predict_records([p.features for p in served])
        verdict.agreement = sum(a == p.label for a, p in zip(labels, served, strict=True)) / len(
            served
        )
        if verdict.agreement < plan.min_agreement:
            verdict.decision = "rollback"
            verdict.reason = (
                f"agreement with production v{plan.production_version} "
                f"{verdict.agreement:.3f} < {plan.min_agreement}"
            )
            return verdict
    abtest = load_plan(backend.artifacts, plan.model)
    if abtest is not None and abtest.experiment_version == plan.version:
        status = abtest_status(backend, plan.model)
        if status.decision != "promote":
            verdict.decision = "continue" if status.decision == "continue" else "rollback"
            verdict.reason = f"A/B test: {status.reason}"
            return verdict
    verdict.decision = "promote"
    verdict.reason = (
        f"{len(served)} requests over {elapsed:.0f}s, agreement "
        f"{verdict.agreement if verdict.agreement is not None else 'n/a'}, no non-finite output"
    )
    return verdict


CANARY_DECIDED_METRIC = "CanaryDecided"
CANARY_DECIDED_ALARM_SUFFIX = "-canary-decided"


def check_canary(
    backend: Backend, model: str, *, now: datetime | None = None
) -> CanaryVerdict | None:
    """The monitor's part (read-only, like its role): the verdict so far, published as
    `CanaryDecided` (1 once it is promote or rollback). Its alarm makes the rollback function,
    which may move stages, apply it (`advance_canary`). None when no canary release runs."""
    plan = load_canary(backend, model)
    if plan is None:
        return None
    verdict = evaluate_canary(backend, plan, now=now)
    backend.metrics.put(
        CANARY_DECIDED_METRIC,
        float(verdict.decision != "continue"),
        dimensions={"model": model, "stage": "production"},
    )
    return verdict


def advance_canary(
    backend: Backend, model: str, *, now: datetime | None = None, actor: str = "canary"
) -> CanaryVerdict | None:
    """Decide and apply, if a canary release is running and its window allows (the rollback
    function on the canary-decided alarm; `mlops monitor` locally). None when none runs; the
    verdict is read again here, so a stale or repeated notification applies nothing new."""
    plan = load_canary(backend, model)
    if plan is None:
        return None
    verdict = evaluate_canary(backend, plan, now=now)
    if verdict.decision == "continue":
        return verdict
    registry = backend.registry
    reason = f"canary: {verdict.reason}"[:500]
    if verdict.decision == "promote":
        verdict.event = registry.promote(
            model,
            plan.version,
            "production",
            actor=actor,
            reason=reason,
            expected_version=plan.production_version,
        )
        # The canary alias now equals production: the router sends it no traffic.
    else:
        canary = registry.alias(model, "canary")
        if canary is None or canary.version != plan.version:
            raise StaleStageError(f"canary of {model} no longer serves v{plan.version}")
        verdict.event = registry.retire_canary(
            model, expected_version=plan.version, actor=actor, reason=reason
        )
    backend.artifacts.delete(canary_key(model))
    return verdict


def window_ends(plan: CanaryPlan) -> str:
    started = datetime.fromisoformat(plan.started_at)
    return (started + timedelta(seconds=plan.window_seconds)).isoformat(timespec="seconds")
