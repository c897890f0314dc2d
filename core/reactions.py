"""What the system does on its own when an alarm fires: retrain, roll a fresh model back, or
apply the decision an A/B test reached."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from pydantic import BaseModel

from mlops_template.core.abtest import abtest_status, apply_decision
from mlops_template.core.alarms import AlarmNotification
from mlops_template.core.backend import Backend
from mlops_template.core.pipeline import PipelineSteps
from mlops_template.core.ports import PipelineStarter
from mlops_template.core.registry import RegistryError


class Reaction(BaseModel):
    alarm: str
    action: str
    detail: str
    execution: str | None = None
    started: bool | None = None
    from_version: int | None = None
    to_version: int | None = None


def retrain(
    backend: Backend,
    starter: PipelineStarter,
    model: str,
    alarm: AlarmNotification,
    *,
    cooldown_seconds: int,
    now: float | None = None,
) -> Reaction:
    """Start the pipeline on the newest accepted data. The run's token is the alarm name plus the
    cool-down window it fired in, so a storm of notifications starts one run."""
    if not alarm.firing:
        return Reaction(alarm=alarm.name, action="ignored", detail=f"state is {alarm.state}")
    dataset = PipelineSteps(backend).latest_dataset(model)
    if dataset is None:
        return Reaction(alarm=alarm.name, action="ignored", detail="no accepted data to retrain on")
    window = int((now if now is not None else time.time()) // cooldown_seconds)
    # A model trained from feature views retrains on its label file, joined again against the
    # history as it is now; the joined table it last trained on would not be a label file.
    key = dataset.labels_key or dataset.key
    started = starter.start(
        model,
        key,
        token=f"retrain-{alarm.name}-{window}",
        reason=f"alarm {alarm.name}: {alarm.reason}"[:500],
    )
    return Reaction(
        alarm=alarm.name,
        action="retrain",
        detail=f"pipeline on {key}" + ("" if started.started else " (already running)"),
        execution=started.execution,
        started=started.started,
    )


def rollback_if_fresh(
    backend: Backend,
    model: str,
    stage: str,
    alarm: AlarmNotification,
    *,
    window_seconds: int,
    now: datetime | None = None,
) -> Reaction:
    """Roll `stage` back when its latest move was a promotion within the window.

    An old model's errors are not the new version's fault; and once rolled back, the latest move
    is the rollback itself, so repeated notifications do not walk further back."""
    if not alarm.firing:
        return Reaction(alarm=alarm.name, action="ignored", detail=f"state is {alarm.state}")
    history = backend.registry.history(model, stage)
    if not history:
        return Reaction(alarm=alarm.name, action="ignored", detail=f"{stage} has no history")
    last = history[-1]
    age = ((now or datetime.now(UTC)) - datetime.fromisoformat(last.at)).total_seconds()
    if last.action != "promote" or age > window_seconds:
        return Reaction(
            alarm=alarm.name,
            action="ignored",
            detail=f"latest {stage} move is a {last.action} {age:.0f}s ago, not a fresh promotion",
        )
    try:
        event = backend.registry.rollback(
            model,
            stage,
            actor=f"alarm:{alarm.name}",
            reason=f"alarm {alarm.name}: {alarm.reason}"[:500],
        )
    except RegistryError as exc:
        return Reaction(alarm=alarm.name, action="refused", detail=str(exc))
    return Reaction(
        alarm=alarm.name,
        action="rollback",
        detail=f"{stage} v{event.from_version} -> v{event.to_version}",
        from_version=event.from_version,
        to_version=event.to_version,
    )


def decide_abtest(backend: Backend, model: str, alarm: AlarmNotification) -> Reaction:
    """The A/B test of the canary reached its decision (the monitor published it; its alarm
    fired): apply it with the registry's conditional moves. The decision is read again here,
    from the same captures, so a stale or repeated notification applies nothing new."""
    if not alarm.firing:
        return Reaction(alarm=alarm.name, action="ignored", detail=f"state is {alarm.state}")
    try:
        applied = apply_decision(
            backend, abtest_status(backend, model), actor=f"alarm:{alarm.name}"
        )
    except RegistryError as exc:  # no test running (already applied), or a stage that moved
        return Reaction(alarm=alarm.name, action="refused", detail=str(exc))
    if applied.decision == "continue":
        return Reaction(alarm=alarm.name, action="ignored", detail=applied.detail)
    moved = applied.events[-1] if applied.events else None
    return Reaction(
        alarm=alarm.name,
        action=f"abtest {applied.decision}",
        detail=applied.detail,
        from_version=moved.from_version if moved else None,
        to_version=moved.to_version if moved else None,
    )


def decide_canary(backend: Backend, model: str, alarm: AlarmNotification) -> Reaction:
    """The canary release reached its verdict (the monitor published it; its alarm fired):
    promote it or retire it (core/canary.py), reading the verdict again from the captures."""
    from mlops_template.core.canary import advance_canary

    if not alarm.firing:
        return Reaction(alarm=alarm.name, action="ignored", detail=f"state is {alarm.state}")
    try:
        verdict = advance_canary(backend, model, actor=f"alarm:{alarm.name}")
    except RegistryError as exc:  # a stage that moved since the release started
        return Reaction(alarm=alarm.name, action="refused", detail=str(exc))
    if verdict is None or verdict.decision == "continue":
        detail = "no canary release running" if verdict is None else verdict.reason
        return Reaction(alarm=alarm.name, action="ignored", detail=detail)
    moved = verdict.event
    return Reaction(
        alarm=alarm.name,
        action=f"canary {verdict.decision}",
        detail=verdict.reason,
        from_version=moved.from_version if moved else None,
        to_version=moved.to_version if moved else None,
    )
