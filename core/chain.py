"""The pipeline as a chain of queues: one queue per step of core/pipeline_steps.json, each
message the run's state so far. What the Step Functions definition does, for a provider whose
functions are driven by queues (Azure Storage queues):

- a step's output lands at its ResultPath, then the message goes to the next step's queue;
- the gate is the Choice: a candidate that failed it ends the run (the evaluate step already
  recorded `gate_failed`), and only `register` writes the registry;
- a file over the functions' size limit (core/pipeline.py choose_engine) is the Route: the
  train step starts a job in the training service (Azure ML) and sends the `collect` message
  with a visibility delay; `collect` finds the job still running and sends itself again, delayed
  (the definition's Wait / DescribeTrainingJob loop), or collects its model as a run;
- any error of a step is the Catch: the run's record says how it stopped, and the message is
  consumed (a retry of the same state would fail the same way). A function that dies instead
  (timeout, crash) leaves its message to be delivered again; after the last delivery the host
  moves it to `<queue>-poison`, whose handler records the failure the same way.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from mlops_template.core.backend import Backend
from mlops_template.core.pipeline import (
    DataValidationError,
    PipelineState,
    PipelineStep,
    PipelineSteps,
    TrainingJobFailed,
    TrainOutput,
    choose_engine,
    pipeline_steps,
    step_tasks,
)
from mlops_template.core.ports import BlobExists, TrainingLauncher
from mlops_template.core.records import PipelineStart
from mlops_template.core.settings import Settings

log = logging.getLogger(__name__)

POISON_SUFFIX = "-poison"  # the Functions host's name for a queue's poison queue


class StepQueues(Protocol):
    """Where a step's message is sent: one queue per step."""

    def send(self, queue: str, body: str, *, delay_seconds: int = 0) -> None:
        """`delay_seconds`: the message stays invisible that long (a Wait state)."""
        ...


# Beyond the job's own time limit, how long a job may wait for its compute (a cluster scaling
# up from zero) before the chain stops waiting for it.
QUEUED_GRACE_SECONDS = 3600


@dataclass(frozen=True)
class RemoteTraining:
    """The training service big files go to: the launcher is built only when a run needs it."""

    launcher: Callable[[], TrainingLauncher]
    settings: Settings

    @property
    def wait_limit_seconds(self) -> float:
        return self.settings.training_max_runtime_seconds + QUEUED_GRACE_SECONDS


class ChainMessage(BaseModel):
    step: str
    state: dict[str, Any]
    waiting_since: float | None = Field(
        default=None, description="collect: when the job was started (epoch seconds)."
    )

    @property
    def model(self) -> str:
        return str(self.state["model"])

    @property
    def run_id(self) -> str:
        return str(self.state["run_id"])


class StepOutcome(BaseModel):
    step: str
    run_id: str
    status: Literal["next", "waiting", "registered", "rejected", "failed"]
    next_step: str | None = None
    error: str | None = None
    error_type: str | None = None
    output: dict[str, Any] | None = Field(default=None, description="The step's result.")


def chain_steps() -> tuple[PipelineStep, ...]:
    """The steps the chain runs: not the size route, the SageMaker Processing collector and the
    Quarantine state, which are the Step Functions definition's (a crash here quarantines in
    handle_step, as the definition's Catch does). `collect` runs only after a remote job."""
    return tuple(step for step in pipeline_steps() if not step.state_machine_only)


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


def _train(
    steps: PipelineSteps, state: dict[str, Any], remote: RemoteTraining | None, *, actor: str
) -> dict[str, Any]:
    """The train step: in this function, or, for a file over the size limit, a job started in
    the training service (its `collect` step follows)."""
    s = PipelineState.model_validate(state)
    s.need("validation")
    assert s.validation is not None
    if remote is not None:
        elsewhere, reason = choose_engine(
            steps.backend.data.size(s.validation.dataset.key), remote.settings
        )
        if elsewhere:
            log.info("run %s trains in a job: %s", s.run_id, reason)
            job = steps.start_training(remote.launcher(), s.model, s.validation.dataset, s.run_id)
            return TrainOutput(mode="remote", job=job).model_dump(mode="json")
    return step_tasks(steps, actor=actor)["train"](state)


def _collect(
    steps: PipelineSteps, message: ChainMessage, remote: RemoteTraining | None
) -> dict[str, Any] | None:
    """The job's state: None while it runs (look again later), its run once it completed;
    TrainingJobFailed when it failed, stopped, or outlived the wait."""
    s = PipelineState.model_validate(message.state)
    if s.training is None or s.training.job is None:
        raise ValueError("pipeline state has no training job to collect")
    if remote is None:
        raise ValueError(f"no training service configured to collect job {s.training.job.name}")
    job = remote.launcher().status(s.training.job.name)
    if job.status in ("InProgress", "Stopping"):
        waited = time.time() - (message.waiting_since or time.time())
        if waited > remote.wait_limit_seconds:
            raise TrainingJobFailed(
                f"training job {job.name} still {job.status} after {waited:.0f}s"
            )
        return None
    run = steps.collect_training(s.model, s.run_id, job)
    return TrainOutput(mode="remote", job=job, run=run).model_dump(mode="json")


def advance(
    steps: PipelineSteps,
    message: ChainMessage,
    *,
    actor: str,
    remote: RemoteTraining | None = None,
) -> tuple[StepOutcome, ChainMessage | None]:
    """Run one step; its output joins the state, and the next step's message (None when the
    run ended; the same step again, with its `waiting_since`, while a job runs). Raises what
    the step raises."""
    order = chain_steps()
    names = [step.name for step in order]
    if message.step not in names:
        raise ValueError(f"unknown pipeline step {message.step!r} (steps: {names})")
    index = names.index(message.step)
    step = order[index]
    state = dict(message.state)
    if step.name == "train":
        output = _train(steps, state, remote, actor=actor)
    elif step.name == "collect":
        collected = _collect(steps, message, remote)
        if collected is None:
            waiting = StepOutcome(
                step=step.name, run_id=message.run_id, status="waiting", next_step=step.name
            )
            return waiting, message
        output = collected
    else:
        output = step_tasks(steps, actor=actor)[step.name](state)
    state[step.result_path] = output
    done = StepOutcome(step=step.name, run_id=message.run_id, status="next", output=output)
    if step.name == "register":
        return done.model_copy(update={"status": "registered"}), None
    following = order[index + 1]
    if following.remote_training and TrainOutput.model_validate(state["training"]).run:
        following = order[index + 2]  # trained here: nothing to collect
    if following.name == "register" and not state["evaluation"]["gate"]["passed"]:
        return done.model_copy(update={"status": "rejected"}), None
    waiting_since = time.time() if following.remote_training else None
    return done.model_copy(update={"next_step": following.name}), ChainMessage(
        step=following.name, state=state, waiting_since=waiting_since
    )


def handle_step(
    backend: Backend,
    queues: StepQueues,
    body: str,
    *,
    prefix: str,
    actor: str = "pipeline",
    remote: RemoteTraining | None = None,
) -> StepOutcome:
    """One delivery of a step's message: run it, then send the next message, or record why the
    run stopped. Raises only when even that record cannot be written (the message comes back).
    `remote`: where files over the size limit train (None: every file trains here)."""
    message = ChainMessage.model_validate_json(body)
    steps = PipelineSteps(backend)
    try:
        done, following = advance(steps, message, actor=actor, remote=remote)
    except Exception as exc:
        log.warning("run %s stopped at %s: %s", message.run_id, message.step, exc)
        if message.step in ("validate", "train", "collect") and not isinstance(
            exc, DataValidationError
        ):
            # As the definition's Quarantine state does: a crashed step leaves no file behind.
            with contextlib.suppress(Exception):
                steps.quarantine_failed(
                    PipelineState.model_validate(
                        {
                            **message.state,
                            "failed_step": _failed_step(message.step),
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
        # The collect step waits between looks at its job, as the definition's Wait state does.
        delay = 0
        if following.step == "collect" and remote is not None:
            delay = remote.settings.remote_training_poll_seconds
        queues.send(
            queue_name(prefix, following.step), following.model_dump_json(), delay_seconds=delay
        )
    return done


def _failed_step(step: str) -> str:
    """How the quarantine report names the step (the definition's names for a job's failure)."""
    return "train (training job)" if step == "collect" else step


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
