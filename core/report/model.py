"""What a model's report holds, gathered from the backend's ports only (registry, artifacts,
prediction log): plain pydantic records, summarised so the report stays small whatever the
traffic (drift as binned counts, live quality as time buckets, at most a few hundred points).

The figures come from the modules that compute them elsewhere: the drift scan of
`core.monitoring`, the A/B status of `core.abtest`, the shadow report of `core.shadow`, the
run records the pipeline and `core.sweep` write. Nothing here recomputes them differently.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any, Literal

from pydantic import BaseModel, Field

from mlops_template.core.abtest import AbTestStatus, load_plan, window_status
from mlops_template.core.artifacts import read_verified
from mlops_template.core.backend import Backend
from mlops_template.core.monitoring import DEFAULT_WINDOW, scan_window
from mlops_template.core.records import (
    ModelVersion,
    RunRecord,
    StageAlias,
    StageEvent,
    utc_now,
    version_label,
)
from mlops_template.core.shadow import ShadowReport, shadow_window_report
from mlops_template.training.config import DriftConfig
from mlops_template.training.drift import DriftCounts, FeatureDrift, ReferenceProfile
from mlops_template.training.files import PROFILE_FILE, SCHEMA_FILE
from mlops_template.training.schema import DatasetSchema

# Time buckets of the live-quality line.
QUALITY_BUCKETS = 24
QUALITY_WINDOW = timedelta(days=30)
# Live quality this far below the offline figure (accuracy) is called out in the summary.
QUALITY_GAP = 0.05


class ContractSummary(BaseModel):
    """The data contract a version was trained under (its schema artifact), in brief."""

    target: str
    task: str
    classes: list[str] = Field(default_factory=list)
    rows: int
    numeric: list[str] = Field(default_factory=list)
    categorical: list[str] = Field(default_factory=list)
    excluded: list[str] = Field(default_factory=list)


class GateRow(BaseModel):
    """One comparison the gate made: the candidate against baseline, simpler model, production."""

    against: str
    metric: str
    candidate: float | None
    other: float | None
    passed: bool | None = None


class VersionCard(BaseModel):
    version: int
    created_at: str
    created_by: str
    run_id: str
    source: str
    data_sha256: str
    model_sha256: str
    code_version: str
    rows: dict[str, int] = Field(default_factory=dict)
    contract: ContractSummary | None = None
    metrics: dict[str, float]
    gate_metric: str = ""
    gate_passed: bool
    gate_reasons: list[str] = Field(default_factory=list)
    comparisons: list[GateRow] = Field(default_factory=list)
    stages: list[str] = Field(default_factory=list, description="Stages serving it now.")
    history: list[StageEvent] = Field(default_factory=list)
    lineage: list[str] = Field(default_factory=list, description="Data file -> ... -> env.")
    imported_from: dict[str, Any] = Field(default_factory=dict)


class Histogram(BaseModel):
    labels: list[str]
    reference: list[float] = Field(description="Share of the training rows per bin.")
    current: list[float] = Field(description="Share of the window's captures per bin.")


class DriftRow(BaseModel):
    name: str
    kind: str
    psi: float
    ks_statistic: float | None = None
    ks_pvalue: float | None = None
    drifted: bool
    histogram: Histogram


class DriftSection(BaseModel):
    version: int
    stage: str
    window_start: str
    window_end: str
    rows: int
    reference_rows: int
    enough_data: bool
    drift_detected: bool
    drifted_share: float
    features: list[DriftRow] = Field(description="Worst first (PSI, then KS).")
    prediction: DriftRow | None = None


class QualityPoint(BaseModel):
    start: str
    end: str
    labelled: int
    value: float


class LiveQuality(BaseModel):
    metric: Literal["accuracy", "rmse"]
    offline: float | None = Field(description="The same metric on the held-out set.")
    offline_version: int | None = None
    points: list[QualityPoint]
    labelled: int

    @property
    def latest(self) -> float | None:
        return self.points[-1].value if self.points else None


class SweepTrial(BaseModel):
    run_id: str
    status: str
    value: float | None
    hyperparameters: dict[str, Any]


class SweepSummary(BaseModel):
    sweep: str
    metric: str
    trials: list[SweepTrial]


class RunRow(BaseModel):
    run_id: str
    status: str
    started_at: str
    actor: str
    version: int | None
    gate_metric: str
    value: float | None
    reason: str


class ReadinessRow(BaseModel):
    section: str
    number: int
    test: str
    score: float
    evidence: str


class ReadinessTable(BaseModel):
    """The ML Test Score (tooling/readiness.py), where the caller computed it."""

    rows: list[ReadinessRow]
    sections: dict[str, float]
    final: float


class Summary(BaseModel):
    production: int | None
    production_since: str | None = None
    production_by: str | None = None
    stages: dict[str, int] = Field(default_factory=dict)
    versions: int
    runs: int
    health: str = Field(description="One line: how production is doing.")
    attention: list[str] = Field(default_factory=list, description="What a person should look at.")


class ModelReport(BaseModel):
    model: str
    environment: str
    backend: str
    generated_at: str = Field(default_factory=utc_now)
    task: str
    summary: Summary
    versions: list[VersionCard] = Field(description="Newest first.")
    timeline: list[StageEvent] = Field(description="Every stage move, oldest first.")
    aliases: dict[str, StageAlias] = Field(default_factory=dict)
    runs: list[RunRow] = Field(default_factory=list)
    drift: DriftSection | None = None
    quality: LiveQuality | None = None
    abtest: AbTestStatus | None = None
    shadow: ShadowReport | None = None
    sweeps: list[SweepSummary] = Field(default_factory=list)
    slices: list[dict[str, Any]] = Field(default_factory=list)
    fairness: dict[str, Any] = Field(default_factory=dict)
    importance: dict[str, float] = Field(default_factory=dict)
    importance_metric: str = ""
    simple_model: dict[str, Any] = Field(default_factory=dict)
    readiness: ReadinessTable | None = None


# -- gathering ------------------------------------------------------------------------------


def _schema(backend: Backend, version: ModelVersion) -> DatasetSchema | None:
    ref = version.artifacts.get(SCHEMA_FILE)
    if ref is None:
        return None
    return DatasetSchema.model_validate_json(read_verified(backend.artifacts, ref))


def _contract(schema: DatasetSchema) -> ContractSummary:
    return ContractSummary(
        target=schema.target.name,
        task=schema.target.task,
        classes=list(schema.target.classes),
        rows=schema.row_count,
        numeric=[c.name for c in schema.columns if c.kind == "numeric"],
        categorical=[c.name for c in schema.columns if c.kind != "numeric"],
        excluded=[c.name for c in schema.excluded_columns],
    )


def _comparisons(version: ModelVersion, run: RunRecord | None) -> list[GateRow]:
    gate = version.gate
    metric = str(gate.get("metric", ""))
    candidate = gate.get("candidate", version.metrics.get(metric))
    rows = [
        GateRow(
            against="baseline (majority class / mean)",
            metric=metric,
            candidate=candidate,
            other=gate.get("baseline", version.baseline_metrics.get(metric)),
        )
    ]
    simple = (run.assessment.get("simple_model") if run else None) or {}
    if simple.get("simple") is not None:
        rows.append(
            GateRow(
                against=f"simpler model ({simple.get('algorithm', '?')})",
                metric=str(simple.get("metric", metric)),
                candidate=simple.get("candidate"),
                other=simple.get("simple"),
                passed=simple.get("worth_its_complexity"),
            )
        )
    if gate.get("production") is not None:
        rows.append(
            GateRow(
                against=f"production ({version_label(gate.get('production_version'))})",
                metric=metric,
                candidate=candidate,
                other=gate.get("production"),
            )
        )
    return rows


def _lineage(version: ModelVersion, history: list[StageEvent], environment: str) -> list[str]:
    steps = [version.source or "(no data file recorded)", f"run {version.run_id}"]
    if version.lineage:
        steps.insert(
            0,
            f"imported from {version.lineage.get('environment', '?')} "
            f"{version_label(version.lineage.get('version'))}",
        )
    steps.append(f"v{version.version} (data sha256 {version.data_sha256[:12]})")
    reached = []
    for event in history:
        if event.to_version == version.version and event.stage not in reached:
            reached.append(event.stage)
    steps.extend(f"{stage} in {environment}" for stage in reached)
    return steps


def _card(
    backend: Backend,
    version: ModelVersion,
    run: RunRecord | None,
    history: list[StageEvent],
    aliases: dict[str, StageAlias],
    environment: str,
) -> VersionCard:
    schema = _schema(backend, version)
    mine = [e for e in history if version.version in (e.to_version, e.from_version)]
    return VersionCard(
        version=version.version,
        created_at=version.created_at,
        created_by=version.created_by,
        run_id=version.run_id,
        source=version.source,
        data_sha256=version.data_sha256,
        model_sha256=version.model_sha256,
        code_version=version.code_version,
        rows=run.rows if run else {},
        contract=_contract(schema) if schema else None,
        metrics=version.metrics,
        gate_metric=str(version.gate.get("metric", "")),
        gate_passed=version.gate_passed,
        gate_reasons=[str(r) for r in version.gate.get("reasons", [])],
        comparisons=_comparisons(version, run),
        stages=sorted(a.stage for a in aliases.values() if a.version == version.version),
        history=mine,
        lineage=_lineage(version, history, environment),
        imported_from=version.lineage,
    )


def _bin_labels(feature: Any) -> list[str]:
    if feature.kind != "numeric":
        return [*feature.categories, "(other)"]
    edges = [f"{e:.4g}" for e in feature.edges]
    if not edges:
        return ["all"]
    inner = [f"{a} to {b}" for a, b in pairwise(edges)]
    return [f"< {edges[0]}", *inner, f">= {edges[-1]}"]


def _shares(counts: list[int]) -> list[float]:
    total = sum(counts)
    return [round(c / total, 6) if total else 0.0 for c in counts]


def _drift_row(found: FeatureDrift, counts: DriftCounts, feature: Any) -> DriftRow:
    return DriftRow(
        name=found.name,
        kind=feature.kind,
        psi=found.psi,
        ks_statistic=found.ks_statistic,
        ks_pvalue=found.ks_pvalue,
        drifted=found.drifted,
        histogram=Histogram(
            labels=_bin_labels(feature),
            reference=[round(x, 6) for x in feature.expected],
            current=_shares(counts.counts(found.name)),
        ),
    )


def _drift(
    backend: Backend, model: str, stage: str, window: timedelta, end: datetime
) -> DriftSection | None:
    """The monitor's scan of its latest window (core.monitoring.scan_window), with the binned
    counts behind each PSI kept for the histograms. Publishes nothing."""
    current = backend.registry.current(model, stage)
    if current is None or PROFILE_FILE not in current.artifacts:
        return None
    config = DriftConfig.model_validate(current.config.get("drift", {}))
    profile = ReferenceProfile.model_validate_json(
        read_verified(backend.artifacts, current.artifacts[PROFILE_FILE])
    )
    start = end - window
    scan = scan_window(backend.predictions, model, current.version, profile, start, end)
    found = scan.drift.report(config)
    by_name = {f.name: f for f in profile.features}
    rows = [_drift_row(f, scan.drift, by_name[f.name]) for f in found.features]
    rows.sort(key=lambda r: (-r.psi, -(r.ks_statistic or 0.0), r.name))
    prediction = None
    if scan.predictions is not None and profile.predictions is not None:
        predicted = scan.predictions.report(config).features
        if predicted:
            prediction = _drift_row(predicted[0], scan.predictions, profile.predictions)
    return DriftSection(
        version=current.version,
        stage=stage,
        window_start=start.isoformat(),
        window_end=end.isoformat(),
        rows=found.rows,
        reference_rows=found.reference_rows,
        enough_data=found.enough_data,
        drift_detected=found.drift_detected,
        drifted_share=found.drifted_share,
        features=rows,
        prediction=prediction,
    )


def _when(text: str) -> datetime:
    at = datetime.fromisoformat(text)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _quality(
    backend: Backend,
    model: str,
    task: str,
    production: ModelVersion | None,
    end: datetime,
    window: timedelta,
) -> LiveQuality | None:
    """Feedback joined to its captures (the prediction log's own join), in equal time buckets
    over the span that has feedback: accuracy, or RMSE for a regression."""
    start = end - window
    labels = backend.predictions.feedback(model, since=start.isoformat())
    if not labels:
        return None
    pairs: list[tuple[datetime, float]] = []
    for record in backend.predictions.window(model, start, end, labels=labels):
        if record.true_label is None or record.stage == "shadow":
            continue
        if task == "regression":
            if record.value is None:
                continue
            try:
                error = float(record.value) - float(record.true_label)
            except ValueError:
                continue
            pairs.append((_when(record.at), error * error))
        else:
            pairs.append((_when(record.at), float(record.label == record.true_label)))
    if not pairs:
        return None
    pairs.sort(key=lambda p: p[0])
    first, last = pairs[0][0], pairs[-1][0]
    width = max((last - first) / QUALITY_BUCKETS, timedelta(seconds=1))
    by_time: dict[int, list[tuple[datetime, float]]] = {}
    for at, value in pairs:
        index = min(int((at - first) / width), QUALITY_BUCKETS - 1)
        by_time.setdefault(index, []).append((at, value))
    groups = [by_time[i] for i in sorted(by_time)]
    if len(groups) < QUALITY_BUCKETS // 4:
        # Feedback that came in a burst (a backfill): equal numbers of labels instead, in order.
        size = math.ceil(len(pairs) / QUALITY_BUCKETS)
        groups = [pairs[i : i + size] for i in range(0, len(pairs), size)]
    points = []
    for group in groups:
        mean = sum(v for _, v in group) / len(group)
        points.append(
            QualityPoint(
                start=group[0][0].isoformat(),
                end=group[-1][0].isoformat(),
                labelled=len(group),
                value=round(math.sqrt(mean) if task == "regression" else mean, 6),
            )
        )
    metric: Literal["accuracy", "rmse"] = "rmse" if task == "regression" else "accuracy"
    return LiveQuality(
        metric=metric,
        offline=production.metrics.get(metric) if production else None,
        offline_version=production.version if production else None,
        points=points,
        labelled=len(pairs),
    )


def _sweeps(runs: list[RunRecord]) -> list[SweepSummary]:
    grouped: dict[str, list[RunRecord]] = {}
    for run in runs:
        if run.sweep:
            grouped.setdefault(run.sweep, []).append(run)
    out = []
    for sweep, trials in sorted(grouped.items()):
        metric = next((m for m in map(_gate_metric, trials) if m), "")
        out.append(
            SweepSummary(
                sweep=sweep,
                metric=metric,
                trials=[
                    SweepTrial(
                        run_id=t.run_id,
                        status=t.status,
                        value=t.metrics.get(metric),
                        hyperparameters=t.hyperparameters,
                    )
                    for t in sorted(trials, key=lambda t: t.started_at)
                ],
            )
        )
    return out


def _gate_metric(run: RunRecord) -> str:
    """The metric the run's gate compared on: its config's, else the task's default."""
    named = (run.config.get("gate") or {}).get("metric")
    if named:
        return str(named)
    return next((m for m in ("roc_auc", "rmse", "accuracy") if m in run.metrics), "")


def _run_row(run: RunRecord) -> RunRow:
    metric = _gate_metric(run)
    return RunRow(
        run_id=run.run_id,
        status=run.status,
        started_at=run.started_at,
        actor=run.actor,
        version=run.version,
        gate_metric=metric,
        value=run.metrics.get(metric),
        reason=run.reason[:300],
    )


def _summary(report: ModelReport) -> Summary:
    aliases = report.aliases
    production = aliases.get("production")
    attention: list[str] = []
    drift, quality = report.drift, report.quality
    if production is None:
        health = "nothing is in production"
        attention.append("no version serves production")
    else:
        parts = []
        if quality is not None and quality.latest is not None:
            offline = f" (offline {quality.offline:.3f})" if quality.offline is not None else ""
            parts.append(f"live {quality.metric} {quality.latest:.3f}{offline}")
            if quality.offline is not None:
                worse = (
                    quality.latest > quality.offline * (1 + QUALITY_GAP)
                    if quality.metric == "rmse"
                    else quality.latest < quality.offline - QUALITY_GAP
                )
                if worse:
                    attention.append(
                        f"live {quality.metric} {quality.latest:.3f} is worse than the offline "
                        f"{quality.offline:.3f}"
                    )
        if drift is not None:
            parts.append(
                f"drift in {sum(f.drifted for f in drift.features)} of {len(drift.features)} "
                f"features over {drift.rows} captures"
            )
            if drift.drift_detected:
                worst = ", ".join([f.name for f in drift.features if f.drifted][:3])
                attention.append(f"data drift detected (worst: {worst})")
        health = "; ".join(parts) or "no captures or feedback yet"
    for event in report.timeline:
        if event.action == "rollback":
            attention.append(
                f"{event.stage} rolled back {version_label(event.from_version)} -> "
                f"v{event.to_version} at {event.at[:19]} by {event.actor}: {event.reason}"
            )
    if report.abtest is not None and report.abtest.decision != "continue":
        attention.append(f"A/B test decided: {report.abtest.decision} ({report.abtest.reason})")
    if "canary" in aliases and production is not None:
        canary = aliases["canary"]
        if canary.version != production.version and canary.weight:
            attention.append(
                f"canary v{canary.version} takes {canary.weight:.0%} of traffic: decide it"
            )
    if report.readiness is not None and report.readiness.final < 5:
        attention.append(f"ML Test Score {report.readiness.final:g}: see the readiness table")
    return Summary(
        production=production.version if production else None,
        production_since=production.updated_at if production else None,
        production_by=production.updated_by if production else None,
        stages={stage: alias.version for stage, alias in sorted(aliases.items())},
        versions=len(report.versions),
        runs=len(report.runs),
        health=health,
        attention=attention,
    )


def gather_report(
    backend: Backend,
    model: str,
    *,
    environment: str = "local",
    stage: str = "production",
    window: timedelta = DEFAULT_WINDOW,
    end: datetime | None = None,
    readiness: ReadinessTable | None = None,
) -> ModelReport:
    """Everything the report shows about `model`, read through the backend's ports."""
    end = end or datetime.now(UTC)
    registry = backend.registry
    versions = sorted(registry.versions(model), key=lambda v: v.version, reverse=True)
    history = sorted(registry.history(model), key=lambda e: e.at)
    aliases = registry.aliases(model)
    runs = registry.runs(model)
    run_of = {r.run_id: r for r in runs}
    cards = [
        _card(backend, v, run_of.get(v.run_id), history, aliases, environment) for v in versions
    ]
    task = next((c.contract.task for c in cards if c.contract), "classification")
    production = registry.current(model, stage)
    latest_run = run_of.get(production.run_id) if production else None
    assessment = latest_run.assessment if latest_run else {}
    importance = assessment.get("importance") or {}
    plan = load_plan(backend.artifacts, model)
    # The shadow's answers over the monitor's window, where a stage has a shadow version.
    shadow = (
        shadow_window_report(backend.predictions, model, end - window, end)
        if "shadow" in aliases
        else None
    )
    report = ModelReport(
        model=model,
        environment=environment,
        backend=backend.name,
        generated_at=end.isoformat(timespec="seconds"),
        task=task,
        summary=Summary(production=None, versions=0, runs=0, health=""),
        versions=cards,
        timeline=history,
        aliases=aliases,
        runs=[_run_row(r) for r in runs[:50]],
        drift=_drift(backend, model, stage, window, end),
        quality=_quality(backend, model, task, production, end, QUALITY_WINDOW),
        abtest=window_status(backend.predictions, plan, end) if plan is not None else None,
        shadow=shadow if shadow is not None and shadow.pairs else None,
        sweeps=_sweeps(runs),
        slices=list(assessment.get("slices") or []),
        fairness=dict(assessment.get("fairness") or {}),
        importance={
            name: float(v["mean"]) for name, v in (importance.get("features") or {}).items()
        },
        importance_metric=str(importance.get("metric", "")),
        simple_model=dict(assessment.get("simple_model") or {}),
        readiness=readiness,
    )
    report.summary = _summary(report)
    return report
