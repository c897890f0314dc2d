"""A sweep: several trials of one model on one data file, the best through the gate.

The file is validated once, as the first trial's run (a file refused there leaves that one run,
`rejected_data`, and no trial trains). Each trial is a run of its own, `<sweep id>-t<k>`, with
the model's config but the trial's `model` section, recorded through `PipelineSteps` like any
run (so on any backend) with `sweep` set. Training splits the rows by a hash of each row, so
every trial is scored on the same held-out rows: the run manifest's metrics. The best by the
gate's metric (the task's; a tie goes to the earlier trial) goes through `evaluate`
(the gate, with the ONNX artifacts, against production) and, if it passes, `register_candidate`;
the others end `not_selected`. So N trials leave N run records and at most one version.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, Field

from mlops_template.core.artifacts import safe_run_id
from mlops_template.core.pipeline import (
    DataValidationError,
    Outcome,
    PipelineState,
    PipelineSteps,
    RunOutput,
    TrainOutput,
    ValidateOutput,
)
from mlops_template.core.records import RunRecord, RunStatus
from mlops_template.training.config import ModelConfig, TrainingConfig


class TrialResult(BaseModel):
    trial: int = Field(description="1-based, in the sweep's order.")
    run_id: str
    model: ModelConfig
    status: RunStatus = "running"
    reason: str = ""
    metrics: dict[str, float] = Field(default_factory=dict)
    seconds: float = 0.0


class SweepResult(Outcome):
    sweep_id: str
    model: str
    metric: str
    trials: list[TrialResult] = Field(default_factory=list)
    best: str | None = Field(default=None, description="The run id of the best trial.")

    def best_trial(self) -> TrialResult | None:
        return next((t for t in self.trials if t.run_id == self.best), None)


def sweep_id_for(model: str) -> str:
    return safe_run_id(f"{model}-sweep-{time.strftime('%Y%m%dT%H%M%S')}-{time.time_ns() % 10**6}")


def trial_run_id(sweep_id: str, trial: int) -> str:
    """`<sweep id>-t<k>`; a long sweep id is cut so that the suffix always survives."""
    suffix = f"-t{trial}"
    return safe_run_id(sweep_id)[: 80 - len(suffix)] + suffix


def _score(trial: TrialResult, metric: str) -> float | None:
    return trial.metrics.get(metric)


def pick_best(trials: Sequence[TrialResult], metric: str) -> TrialResult | None:
    """The trained trial with the best `metric` (highest, or lowest for an error such as
    RMSE); the earliest of equals."""
    from mlops_template.training.evaluate import better

    best: TrialResult | None = None
    for trial in trials:
        score = _score(trial, metric)
        if score is None:
            continue
        if best is None or better(metric, score, _score(best, metric) or 0.0):
            best = trial
    return best


def run_sweep(
    steps: PipelineSteps,
    model: str,
    key: str,
    trials: Sequence[ModelConfig],
    *,
    config: TrainingConfig | None = None,
    sweep_id: str | None = None,
    actor: str = "pipeline",
    promote_to: str | None = None,
    on_step: Callable[[str], None] | None = None,
    on_trial: Callable[[TrialResult], None] | None = None,
) -> SweepResult:
    """Validate `key` once, train each trial, send the best through the gate and register it.

    `on_step` hears what is about to happen ("validate", "train t3 ..."), `on_trial` each trial
    once it is trained (or failed): what a progress bar needs. A failure that is not one trial's
    own (the data, the registry) ends the sweep: `status` "failed" with the error."""
    if not trials:
        raise ValueError("a sweep needs at least one trial")
    config = config or steps.load_config(model)
    sweep_id = safe_run_id(sweep_id or sweep_id_for(model))
    known = steps.load_schema(model)
    task = known.target.task if known else (config.task or "classification")
    result = SweepResult(sweep_id=sweep_id, model=model, metric=config.gate.metric_for(task))
    tell = on_step or (lambda _: None)
    configs = [config.with_overrides(model=m.model_dump()) for m in trials]
    first = trial_run_id(sweep_id, 1)
    try:
        # The file is checked as the first trial's run: its record says if the data was refused.
        steps.record_run(
            RunRecord(
                model=model,
                run_id=first,
                source=steps.backend.data.uri(key),
                actor=actor,
                config=configs[0].model_dump(mode="json"),
                sweep=sweep_id,
            )
        )
        tell("validate")
        validated = steps.validate(model, key, config, run_id=first, actor=actor)
        result.validation_warnings = validated.warnings
        if known is None and (inferred := steps.load_schema(model)) is not None:
            result.metric = config.gate.metric_for(inferred.target.task)  # the first data's task
        runs: dict[str, RunOutput] = {}
        for k, (model_config, trial_config) in enumerate(zip(trials, configs, strict=True), 1):
            trial = TrialResult(trial=k, run_id=trial_run_id(sweep_id, k), model=model_config)
            result.trials.append(trial)
            tell(f"train t{k} {model_config.algorithm}")
            run = _train_trial(steps, model, validated, trial, trial_config, sweep_id, actor)
            if run is not None:
                runs[trial.run_id] = run
            if on_trial:
                on_trial(trial)
        best = pick_best(result.trials, result.metric)
        if best is None:
            raise RuntimeError(f"no trial of sweep {sweep_id} trained: see each trial's reason")
        result.best = best.run_id
        for trial in result.trials:
            if trial is not best and trial.status == "running":
                _not_selected(steps, model, trial, best, result.metric)
        _gate_and_register(
            steps,
            result,
            best,
            runs[best.run_id],
            validated,
            configs[best.trial - 1],
            actor=actor,
            promote_to=promote_to,
            tell=tell,
        )
    except Exception as exc:
        result.status = "failed"
        result.error = str(exc)
        result.error_type = type(exc).__name__
        if isinstance(exc, DataValidationError):
            return result  # validate ended the first trial's record: rejected_data
        for trial in result.trials or [TrialResult(trial=1, run_id=first, model=trials[0])]:
            if trial.status == "running":  # what the pipeline's failure state does for a run
                steps.fail_run(model, trial.run_id, exc)
                trial.status, trial.reason = "error", f"{type(exc).__name__}: {exc}"[:500]
    return result


def _train_trial(
    steps: PipelineSteps,
    model: str,
    validated: ValidateOutput,
    trial: TrialResult,
    config: TrainingConfig,
    sweep_id: str,
    actor: str,
) -> RunOutput | None:
    """Train one trial and record its held-out metrics; a trial that fails ends `error` and
    the sweep goes on (a bad value for one hyperparameter spoils only its own trials)."""
    dataset = validated.dataset
    steps.record_run(
        RunRecord(
            model=model,
            run_id=trial.run_id,
            source=dataset.uri,
            actor=actor,
            config=config.model_dump(mode="json"),
            sweep=sweep_id,
            data_sha256=dataset.sha256,
            rows={"file": dataset.rows},
        )
    )
    start = time.perf_counter()
    try:
        run = steps.train(model, dataset, trial.run_id, config)
    except Exception as exc:
        trial.seconds = round(time.perf_counter() - start, 3)
        steps.fail_run(model, trial.run_id, exc)
        trial.status, trial.reason = "error", f"{type(exc).__name__}: {exc}"[:500]
        return None
    trial.seconds = round(time.perf_counter() - start, 3)
    trial.metrics = dict(run.metrics)
    steps.update_run(model, trial.run_id, **_learned(steps, run))
    return run


def _learned(steps: PipelineSteps, run: RunOutput) -> dict[str, Any]:
    """What a trained run's manifest adds to its record (as `evaluate` records it)."""
    from mlops_template.training.train import RunManifest

    manifest = RunManifest.model_validate_json(steps.backend.artifacts.get(run.manifest_key))
    return {
        "config": manifest.config,
        "data_sha256": manifest.data_sha256,
        "rows": {"train": manifest.rows_train, "test": manifest.rows_test},
        "code_version": manifest.code_version,
        "metrics": run.metrics,
        "baseline_metrics": run.baseline_metrics,
    }


def _not_selected(
    steps: PipelineSteps, model: str, trial: TrialResult, best: TrialResult, metric: str
) -> None:
    score, top = _score(trial, metric), _score(best, metric)
    if score is None:
        reason = f"no {metric} (best {top:.3f}, trial t{best.trial})"
    elif score != top:
        from mlops_template.training.evaluate import higher_is_better

        sign = "<" if higher_is_better(metric) else ">"  # worse, in the metric's direction
        reason = f"{metric} {score:.3f} {sign} best {top:.3f} (trial t{best.trial})"
    else:  # a tie (or equal when rounded): the earlier trial goes on
        reason = f"{metric} {score:.3f} = best {top:.3f} (trial t{best.trial}, earlier)"
    steps.end_run(model, trial.run_id, "not_selected", reason)
    trial.status, trial.reason = "not_selected", reason


def _gate_and_register(
    steps: PipelineSteps,
    result: SweepResult,
    best: TrialResult,
    run: RunOutput,
    validated: ValidateOutput,
    config: TrainingConfig,
    *,
    actor: str,
    promote_to: str | None,
    tell: Callable[[str], None],
) -> None:
    model = result.model
    tell(f"evaluate t{best.trial}")
    evaluation = steps.evaluate(model, run, config)
    result.gate = evaluation.gate
    best.metrics = dict(evaluation.candidate_metrics)
    if not evaluation.gate.passed:  # evaluate ended the run: gate_failed
        best.status, best.reason = "gate_failed", "; ".join(evaluation.gate.reasons)
        result.status = "rejected"
        return
    tell(f"register t{best.trial}")
    state = PipelineState(
        model=model,
        key=validated.dataset.key,
        run_id=best.run_id,
        validation=validated,
        training=TrainOutput(mode="lambda", run=run),
        evaluation=evaluation,
    )
    registered = steps.register_candidate(state, actor=actor, promote_to=promote_to)
    best.status = "registered"
    best.reason = f"promoted to {promote_to}" if promote_to else ""
    result.status = "registered"
    result.version = registered.version
    result.promoted_to = registered.promoted_to
