"""The pipeline as a chain of queues: one queue per step of core/pipeline_steps.json, each
message the run's state so far. What the Step Functions definition does, for a provider whose
functions are driven by queues (Azure Storage queues):

- a step's output lands at its ResultPath, then the message goes to the next step's queue;
- the gate is the Choice: a candidate that failed it ends the run (the evaluate step already
  recorded `gate_failed`), and only `register` writes the registry;
- any error of a step is the Catch: the run's record says how it stopped, and the message is
  consumed (a retry of the same state would fail the same way). A function that dies instead
  (timeout, crash) leaves its message to be delivered again; after the last delivery the host
  moves it to `<queue>-poison`, whose handler records the failure the same way.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from mlops_template.core.backend import Backend
from mlops_template.core.pipeline import (
    DataValidationError,
    PipelineState,
    PipelineStep,
    PipelineSteps,
    pipeline_steps,
    step_tasks,
)
from mlops_template.core.ports import BlobExists
from mlops_template.core.records import PipelineStart

log = logging.getLogger(__name__)

POISON_SUFFIX = "-poison"  # the Functions host's name for a queue's poison queue


class StepQueues(Protocol):
    """Where a step's message is sent: one queue per step."""

    def send(self, queue: str, body: str) -> None: ...


class ChainMessage(BaseModel):
    step: str
    state: dict[str, Any]

    @property
    def model(self) -> str:
        return str(self.state["model"])

    @property
    def run_id(self) -> str:
        return str(self.state["run_id"])


class StepOutcome(BaseModel):
    step: str
    run_id: str
    status: Literal["next", "registered", "rejected", "failed"]
    next_step: str | None = None
    error: str | None = None
    error_type: str | None = None
    output: dict[str, Any] | None = Field(default=None, description="The step's result.")


def chain_steps() -> tuple[PipelineStep, ...]:
    """The steps the chain runs: not the SageMaker collectors, nor the size route and the
    Quarantine state, which are the Step Functions definition's (a crash here quarantines in
    handle_step, as the definition's Catch does)."""
    return tuple(
        step
        for step in pipeline_steps()
        if not step.remote_training and not step.state_machine_only
    )


def queue_name(prefix: str, step: str) -> str:
    return f"{prefix}-{step}"


def queue_names(prefix: str) -> list[str]:
    """Every queue the chain uses, poison queues included (what Terraform creates)."""
    names = [queue_name(prefix, step.name) for step in chain_steps()]
    return [*names, *(f"{name}{POISON_SUFFIX}" for name in names)]


class QueuePipelineStarter:
    """The PipelineStarter port for a queue chain: claim the token (a marker written only if
    absent, so a second start with the same token is a no-op), then send the first message."""

    def __init__(
        self, backend: Backend, queues: StepQueues, *, prefix: str, promote_to: str | None = None
    ) -> None:
        self.backend, self.queues, self.prefix, self.promote_to = (
            backend,
            queues,
            prefix,
            promote_to,
        )

    def start(self, model: str, key: str, *, token: str, reason: str) -> PipelineStart:
        marker = f"pipeline-runs/{model}/{token}.json"
        try:
            self.backend.data.put_if_absent(marker, b"{}")
        except BlobExists:
            return PipelineStart(execution=token, started=False)
        first = chain_steps()[0].name
        state = {
            "model": model,
            "key": key,
            "run_id": token,
            "reason": reason,
            "promote_to": self.promote_to,
        }
        message = ChainMessage(step=first, state=state)
        try:
            self.queues.send(queue_name(self.prefix, first), message.model_dump_json())
        except Exception:
            # Not sent, not started: release the claim so a retried event can start the run.
            self.backend.data.delete(marker)
            raise
        return PipelineStart(execution=token, started=True)


def advance(
    steps: PipelineSteps, message: ChainMessage, *, actor: str
) -> tuple[StepOutcome, ChainMessage | None]:
    """Run one step; its output joins the state, and the next step's message (None when the
    run ended). Raises what the step raises."""
    order = chain_steps()
    names = [step.name for step in order]
    if message.step not in names:
        raise ValueError(f"unknown pipeline step {message.step!r} (steps: {names})")
    index = names.index(message.step)
    step = order[index]
    state = dict(message.state)
    output = state[step.result_path] = step_tasks(steps, actor=actor)[step.name](state)
    done = StepOutcome(step=step.name, run_id=message.run_id, status="next", output=output)
    if step.name == "register":
        return done.model_copy(update={"status": "registered"}), None
    following = order[index + 1].name
    if following == "register" and not state["evaluation"]["gate"]["passed"]:
        return done.model_copy(update={"status": "rejected"}), None
    return done.model_copy(update={"next_step": following}), ChainMessage(
        step=following, state=state
    )


def handle_step(
    backend: Backend, queues: StepQueues, body: str, *, prefix: str, actor: str = "pipeline"
) -> StepOutcome:
    """One delivery of a step's message: run it, then send the next message, or record why the
    run stopped. Raises only when even that record cannot be written (the message comes back)."""
    message = ChainMessage.model_validate_json(body)
    steps = PipelineSteps(backend)
    try:
        done, following = advance(steps, message, actor=actor)
    except Exception as exc:
        log.warning("run %s stopped at %s: %s", message.run_id, message.step, exc)
        if message.step in ("validate", "train") and not isinstance(exc, DataValidationError):
            # As the definition's Quarantine state does: a crashed step leaves no file behind.
            with contextlib.suppress(Exception):
                steps.quarantine_failed(
                    PipelineState.model_validate(
                        {
                            **message.state,
                            "failed_step": message.step,
                            "error": {"Error": type(exc).__name__, "Cause": str(exc)},
                        }
                    )
                )
        steps.fail_run(message.model, message.run_id, exc)
        return StepOutcome(
            step=message.step,
            run_id=message.run_id,
            status="failed",
            error=(str(exc) or type(exc).__name__)[:500],
            error_type=type(exc).__name__,
        )
    if following is not None:
        queues.send(queue_name(prefix, following.step), following.model_dump_json())
    return done


class PoisonedStep(RuntimeError):
    """A step's message was delivered as often as allowed and never completed."""


def handle_poison(backend: Backend, body: str) -> StepOutcome:
    """A message the host gave up on: its run ends as an error, unless a step already ended it."""
    try:
        message = ChainMessage.model_validate_json(body)
    except ValueError as exc:  # nothing to record it against: say so, and let it go
        log.error("unreadable poison message dropped: %s: %.200s", exc, body)
        return StepOutcome(
            step="", run_id="", status="failed", error=str(exc)[:500], error_type="ValidationError"
        )
    error = PoisonedStep(f"step {message.step} never completed (message moved to poison queue)")
    with contextlib.suppress(ValueError):
        PipelineSteps(backend).fail_run(message.model, message.run_id, error)
    return StepOutcome(
        step=message.step,
        run_id=message.run_id,
        status="failed",
        error=str(error),
        error_type=type(error).__name__,
    )
