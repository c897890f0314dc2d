"""`mlops demo`: the whole lifecycle on one backend, with a report.

1. ingest -> validate -> train -> evaluate -> register v1 -> staging -> production
2. serve predictions through the real FastAPI app (in-process HTTP)
3. drifted traffic -> drift detected -> retrain -> v2 promoted only if the gate passes
4. a corrupted file quarantined with its report, and a rollback
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from mlops_template.core.artifacts import arrival_key
from mlops_template.core.backend import Backend
from mlops_template.core.canary import advance_canary, start_canary
from mlops_template.core.monitoring import MonitorResult, run_monitor
from mlops_template.core.pipeline import LocalPipeline, PipelineResult, PipelineSteps
from mlops_template.core.records import version_label
from mlops_template.core.registry import NoPreviousVersionError
from mlops_template.core.serving.router import ModelRouter
from mlops_template.training.config import FeaturePolicy, TrainingConfig, TuningConfig
from mlops_template.training.datasets import (
    REGRESSION_TARGET,
    TARGET,
    breast_cancer_frame,
    diabetes_frame,
    to_csv_bytes,
)
from mlops_template.training.schema import Task

MODEL = "breast-cancer"
# Features a sensor recalibration would shift: all size measurements read 30% larger.
SHIFTED_FEATURES = ("mean_radius", "mean_perimeter", "mean_area", "worst_radius", "worst_area")
SHIFT_FACTOR = 1.3
# The clinic that sent each record: a group column to measure fairness and slices over (the
# public data set names none, so the demo assigns one, seeded).
CLINICS = ("north", "south", "east")
# The canary release of a retrained version: half of the traffic, decided on what it served.
CANARY_WEIGHT = 0.5
CANARY_MIN_REQUESTS = 20


def demo_policy() -> dict[str, Any]:
    """What a person decides once about the demo's classifier (configs/demo.toml holds the same
    kind of decisions): the feature policy, the slices, the groups and the tuning budget."""
    return {
        "features": FeaturePolicy(
            forbidden=["patient_id"],  # an identifier is never a feature
            required=["mean_radius", "worst_radius"],
            costly=["worst_area"],
            slices=["clinic"],
            sensitive=["clinic"],
        ),
        "tuning": TuningConfig(
            search_space={"learning_rate": [0.1, 0.3], "max_leaf_nodes": [15, 31]},
            method="halving_grid",
            cv=2,
        ),
    }


def demo_frame() -> Any:
    import numpy as np

    frame = breast_cancer_frame()
    rng = np.random.default_rng(7)
    frame.insert(0, "clinic", rng.choice(CLINICS, size=len(frame)))
    return frame


@dataclass(frozen=True)
class Story:
    """What the lifecycle runs on for one task: the table, the features a recalibrated
    instrument shifts, the field a bad request spoils and the column a corrupted file lacks."""

    task: Task
    model: str
    load: Callable[[], Any]
    target: str
    shifted: tuple[str, ...]
    bad_field: str
    dropped: str
    config: dict[str, Any] = field(default_factory=dict)


STORIES: dict[Task, Story] = {
    "classification": Story(
        "classification",
        MODEL,
        demo_frame,
        TARGET,
        SHIFTED_FEATURES,
        "mean_radius",
        "worst_texture",
        demo_policy(),
    ),
    # Blood pressure and serum readings from a recalibrated lab: 30% higher.
    "regression": Story(
        "regression",
        "diabetes",
        diabetes_frame,
        REGRESSION_TARGET,
        ("bmi", "bp", "s1", "s5"),
        "bmi",
        "s2",
        {"prediction_interval": 0.9},
    ),
}


class StepOutcome(BaseModel):
    name: str
    status: Literal["passed", "failed"]
    seconds: float
    detail: str = ""


class DemoReport(BaseModel):
    backend: str
    model: str
    task: str = "classification"
    passed: bool = False
    seconds: float = 0.0
    steps: list[StepOutcome] = Field(default_factory=list)
    pipeline_runs: list[PipelineResult] = Field(default_factory=list)
    versions: list[dict[str, Any]] = Field(default_factory=list)
    predictions: list[dict[str, Any]] = Field(default_factory=list)
    invalid_request: dict[str, Any] | None = None
    monitoring: MonitorResult | None = None
    quarantine: dict[str, Any] | None = None
    rollback: dict[str, Any] | None = None
    history: list[dict[str, Any]] = Field(default_factory=list)
    production_version: int | None = None
    summary: dict[str, Any] = Field(default_factory=dict)
    html_report: str | None = Field(
        default=None, description="The model's HTML report (docs/reports.md), written last."
    )


class DemoFailed(Exception):
    pass


class Demo:
    def __init__(
        self,
        backend: Backend,
        *,
        on_step: Callable[[str], None] | None = None,
        pipeline: Callable[..., PipelineResult] | None = None,
        api: Callable[[], Any] | None = None,
        label: str | None = None,
        task: Task = "classification",
        report_dir: Path | None = None,
    ) -> None:
        self.backend = backend
        self.report_dir = report_dir
        self.story = STORIES[task]
        self.report = DemoReport(backend=label or backend.name, model=self.story.model, task=task)
        self.on_step = on_step or (lambda _name: None)
        self.steps = PipelineSteps(backend)
        self._pipeline = pipeline or LocalPipeline(backend, actor="demo").run
        self._api = api or self._local_api

    def _local_api(self) -> Any:
        """The FastAPI app over in-process HTTP (Starlette's test client)."""
        from fastapi.testclient import TestClient

        from mlops_template.core.serving.app import create_app

        router = ModelRouter(
            self.backend.registry,
            self.backend.artifacts,
            self.story.model,
            "production",
            refresh_seconds=0,
            metrics=self.backend.metrics,
        )
        return TestClient(
            create_app(router, predictions=self.backend.predictions, metrics=self.backend.metrics)
        )

    @contextmanager
    def step(self, name: str) -> Iterator[StepOutcome]:
        self.on_step(name)
        outcome = StepOutcome(name=name, status="passed", seconds=0.0)
        start = time.perf_counter()
        try:
            yield outcome
        except Exception as exc:
            outcome.status = "failed"
            outcome.detail = f"{type(exc).__name__}: {exc}"
            raise DemoFailed(name) from exc
        finally:
            outcome.seconds = round(time.perf_counter() - start, 3)
            self.report.steps.append(outcome)

    def run(self) -> DemoReport:
        started = time.perf_counter()
        try:
            self._run()
            self.report.passed = all(s.status == "passed" for s in self.report.steps)
        except DemoFailed:
            self.report.passed = False
        self.report.seconds = round(time.perf_counter() - started, 3)
        self._summarise()
        if self.report_dir is not None:
            self._html_report(self.report_dir)
        return self.report

    def _html_report(self, folder: Path) -> None:
        """The model's report, as `mlops report` writes it (even after a failed step: it shows
        how far the story got)."""
        from mlops_template.tooling.report_cli import write_report

        self.on_step("write the report")
        path = write_report(self.backend, self.story.model, folder, environment=self.report.backend)
        self.report.html_report = str(path)

    # -- the story ---------------------------------------------------------------------------
    def _run(self) -> None:
        registry = self.backend.registry
        story = self.story
        frame = story.load()
        initial = frame.sample(frac=0.8, random_state=7)
        future = frame.drop(initial.index)

        with self.step("ingest initial data") as s:
            self.steps.save_config(
                TrainingConfig(model_name=story.model, target=story.target, **story.config)
            )
            key = arrival_key("initial.csv")
            self.backend.data.put(key, to_csv_bytes(initial))
            s.detail = f"{len(initial)} rows, {frame.shape[1] - 1} features -> incoming/initial.csv"

        with self.step("pipeline: validate, train, evaluate, register v1") as s:
            first = self._run_pipeline(key)
            if first.status != "registered" or first.version is None:
                raise RuntimeError(f"first run ended {first.status}: {first.error or first.gate}")
            s.detail = f"v{first.version} registered; gate: {_gate_line(first)}"

        with self.step("promote v1 to staging, then production") as s:
            registry.promote(
                self.story.model, first.version, "staging", actor="demo", reason="first model"
            )
            registry.promote(
                self.story.model,
                first.version,
                "production",
                actor="demo",
                reason="staging checks passed",
                expected_revision=0,
            )
            s.detail = "production serves v1"

        client = self._api()
        features = [c for c in frame.columns if c != story.target]

        with self.step("serve predictions through the API") as s:
            health = client.get("/health")
            if health.status_code != 200:
                raise RuntimeError(f"/health answered {health.status_code}: {health.text}")
            sample = future.head(5)
            answer = client.post("/predict", json={"records": _records(sample, features)})
            answer.raise_for_status()
            body = answer.json()
            truth_field = "true_value" if story.task == "regression" else "true_label"
            self.report.predictions = [
                {**p, truth_field: truth}
                for p, truth in zip(body["predictions"], sample[story.target], strict=True)
            ]
            bad = _records(sample.head(1), features)
            bad[0][story.bad_field] = "large"
            rejected = client.post("/predict", json={"records": bad})
            if rejected.status_code != 422:
                raise RuntimeError(f"an invalid record got {rejected.status_code}, not 422")
            self.report.invalid_request = {"status": 422, "detail": rejected.json()["detail"]}
            s.detail = (
                f"5 records scored by v{body['version']}; a bad field got 422 at "
                f"{'.'.join(map(str, rejected.json()['detail'][0]['loc']))}"
            )

        drifted = future.copy()
        for name in story.shifted:
            drifted[name] = drifted[name] * SHIFT_FACTOR
        with self.step("drifted traffic and feedback") as s:
            ids: list[str] = []
            for start in range(0, len(drifted), 25):
                chunk = drifted.iloc[start : start + 25]
                answer = client.post("/predict", json={"records": _records(chunk, features)})
                answer.raise_for_status()
                ids.extend(p["prediction_id"] for p in answer.json()["predictions"])
            for pid, truth in zip(ids, drifted[story.target], strict=True):
                client.post(
                    "/feedback", json={"prediction_id": pid, "label": truth}
                ).raise_for_status()
            s.detail = (
                f"{len(ids)} records with {len(story.shifted)} features x{SHIFT_FACTOR}, "
                "all labelled"
            )

        with self.step("monitor: drift against the training profile") as s:
            monitored = run_monitor(self.backend, self.story.model)
            self.report.monitoring = monitored
            if not monitored.drift.drift_detected:
                raise RuntimeError("drift was not detected on shifted traffic")
            s.detail = (
                f"drift in {len(monitored.drift.drifted_features)} of "
                f"{len(monitored.drift.features)} features; {_feedback_line(monitored)}"
            )

        with self.step("retrain on the new data; gate against production") as s:
            retrain_frame = _concat(initial, drifted)
            key = arrival_key("retrain.csv")
            self.backend.data.put(key, to_csv_bytes(retrain_frame))
            second = self._run_pipeline(key)
            if second.status == "failed":
                raise RuntimeError(f"retraining failed: {second.error}")
            if second.status == "registered" and second.version is not None:
                registry.promote(
                    self.story.model,
                    second.version,
                    "staging",
                    actor="demo",
                    reason="retrained on drifted data",
                )
                s.detail = (
                    f"{self._canary(client, second.version, drifted, features)}; "
                    f"gate: {_gate_line(second)}"
                )
            else:
                s.detail = (
                    f"candidate rejected, production stays v{first.version}: {_gate_line(second)}"
                )
            production = registry.current(self.story.model, "production")
            served = client.get("/model").json().get("version")
            if production is None or served != production.version:
                raise RuntimeError(
                    f"API serves {version_label(served)}, production is "
                    f"{version_label(production.version if production else None)}"
                )

        with self.step("corrupted file goes to quarantine") as s:
            corrupted = future.head(40).copy().drop(columns=[story.dropped])
            corrupted[story.bad_field] = corrupted[story.bad_field].astype(object)
            corrupted.iloc[3, corrupted.columns.get_loc(story.bad_field)] = "n/a"
            key = arrival_key("corrupted.csv")
            self.backend.data.put(key, to_csv_bytes(corrupted))
            before = [v.version for v in registry.versions(self.story.model)]
            bad_run = self._run_pipeline(key)
            if bad_run.status != "failed" or bad_run.error_type != "DataValidationError":
                raise RuntimeError(f"corrupted file was not rejected: {bad_run.status}")
            if [v.version for v in registry.versions(self.story.model)] != before:
                raise RuntimeError("a rejected file changed the registry")
            reports = [
                k for k in self.backend.data.keys("quarantine/") if k.endswith(".report.json")
            ]
            import json

            self.report.quarantine = {
                "key": reports[-1],
                "report": json.loads(self.backend.data.get(reports[-1])),
            }
            s.detail = f"quarantined with report {reports[-1]}"

        with self.step("rollback production") as s:
            try:
                event = registry.rollback(
                    self.story.model,
                    "production",
                    actor="demo",
                    reason="demo: roll back the latest promotion",
                )
                self.report.rollback = event.model_dump()
                s.detail = f"production v{event.from_version} -> v{event.to_version}"
            except NoPreviousVersionError as exc:
                # Production only ever served v1: the refusal is the behaviour to show.
                self.report.rollback = {"refused": str(exc)}
                s.detail = f"refused clearly: {exc}"
            served = client.get("/model").json().get("version")
            production = registry.current(self.story.model, "production")
            if production is None or served != production.version:
                raise RuntimeError(
                    f"API serves {version_label(served)} after rollback, production is "
                    f"{version_label(production.version if production else None)}"
                )

    def _canary(self, client: Any, version: int, traffic: Any, features: list[str]) -> str:
        """The release path to production: the canary serves a share of live traffic, then
        the decision reads what it served (the monitor's job on a schedule; here at once, with
        a window of zero)."""
        start_canary(
            self.backend,
            self.story.model,
            version,
            actor="demo",
            weight=CANARY_WEIGHT,
            window_seconds=0,
            min_requests=CANARY_MIN_REQUESTS,
            reason="retrained on drifted data",
        )
        for begin in range(0, len(traffic), 2):
            answer = client.post(
                "/predict", json={"records": _records(traffic.iloc[begin : begin + 2], features)}
            )
            answer.raise_for_status()
        verdict = advance_canary(self.backend, self.story.model, actor="demo")
        if verdict is None or verdict.decision == "continue":
            raise RuntimeError(f"the canary of v{version} was not decided: {verdict}")
        return f"canary v{version}: {verdict.decision} ({verdict.reason})"

    def _run_pipeline(self, key: str) -> PipelineResult:
        result = self._pipeline(self.story.model, key)
        self.report.pipeline_runs.append(result)
        return result

    def _task_summary(self) -> dict[str, Any]:
        """The production version's held-out metrics, named: RMSE and MAE for a regression."""
        production = self.backend.registry.current(self.story.model, "production")
        if production is None:
            return {"task": self.story.task}
        names = ("rmse", "mae", "r2") if self.story.task == "regression" else ("roc_auc", "f1")
        shown = {n: production.metrics[n] for n in names if n in production.metrics}
        return {"task": self.story.task, "production_metrics": shown}

    def _summarise(self) -> None:
        registry = self.backend.registry
        self.report.versions = [
            {
                "version": v.version,
                "metrics": v.metrics,
                "baseline": v.baseline_metrics,
                "gate": v.gate,
                "data_sha256": v.data_sha256,
                "model_sha256": v.model_sha256,
                "code_version": v.code_version,
            }
            for v in registry.versions(self.story.model)
        ]
        self.report.history = [e.model_dump() for e in registry.history(self.story.model)]
        production = registry.current(self.story.model, "production")
        self.report.production_version = production.version if production else None
        drift = self.report.monitoring.drift if self.report.monitoring else None
        self.report.summary = {
            "passed": self.report.passed,
            "seconds": self.report.seconds,
            "versions_registered": len(self.report.versions),
            "production_version": self.report.production_version,
            "drift_detected": drift.drift_detected if drift else None,
            "drifted_features": drift.drifted_features if drift else [],
            **self._task_summary(),
            "quarantined": self.report.quarantine is not None,
            "stage_moves": len(self.report.history),
        }


def _feedback_line(monitored: MonitorResult) -> str:
    if monitored.feedback_rmse is not None and monitored.feedback_mae is not None:
        psi = monitored.prediction_drift.psi if monitored.prediction_drift else float("nan")
        return (
            f"feedback RMSE {monitored.feedback_rmse:.2f}, MAE {monitored.feedback_mae:.2f}; "
            f"prediction PSI {psi:.3f}"
        )
    accuracy = monitored.feedback_accuracy
    return f"feedback accuracy {accuracy:.3f}" if accuracy is not None else "no feedback"


def _records(frame: Any, features: list[str]) -> list[dict[str, Any]]:
    return frame[features].to_dict(orient="records")


def _concat(*frames: Any) -> Any:
    import pandas as pd

    return pd.concat(frames, ignore_index=True)


def _gate_line(result: PipelineResult) -> str:
    gate = result.gate
    if gate is None:
        return "not evaluated"
    production = f", production {gate.production:.4f}" if gate.production is not None else ""
    verdict = "passed" if gate.passed else "failed: " + "; ".join(gate.reasons)
    return (
        f"{gate.metric} {gate.candidate:.4f} vs baseline {gate.baseline:.4f}{production} "
        f"({verdict})"
    )
