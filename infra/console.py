"""Rich rendering of what the CLI shows: reports, registry tables, drift tables."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from infra.records import ModelVersion, StageAlias, StageEvent, version_label
from training.drift import DriftReport
from training.validation import ValidationReport

if TYPE_CHECKING:
    from infra.demo import DemoReport

SHOWN_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")


def _ok(flag: bool) -> str:
    return "[green]passed[/]" if flag else "[red]failed[/]"


def validation_table(report: ValidationReport) -> Table:
    verdict = "[green]valid[/]" if report.passed else "[red]rejected[/]"
    table = Table(title=f"{report.source}: {verdict}, {report.rows} rows", title_justify="left")
    for col in ("severity", "check", "column", "rows", "lines", "message"):
        table.add_column(col, overflow="fold")
    for issue in report.issues:
        colour = "red" if issue.severity == "error" else "yellow"
        table.add_row(
            f"[{colour}]{issue.severity}[/]",
            issue.check,
            issue.column or "",
            str(issue.count or ""),
            ", ".join(map(str, issue.lines)),
            issue.message,
        )
    return table


def versions_table(versions: Iterable[ModelVersion], aliases: dict[str, StageAlias]) -> Table:
    stages_of: dict[int, list[str]] = {}
    for alias in aliases.values():
        stages_of.setdefault(alias.version, []).append(alias.stage)
    table = Table(title="Model versions", title_justify="left")
    for col in ("version", "stages", "gate", "roc_auc", "f1", "data", "model sha256", "created"):
        table.add_column(col)
    for v in versions:
        table.add_row(
            f"v{v.version}",
            ", ".join(sorted(stages_of.get(v.version, []))),
            _ok(v.gate_passed),
            f"{v.metrics.get('roc_auc', float('nan')):.4f}",
            f"{v.metrics.get('f1', float('nan')):.4f}",
            v.data_sha256[:12],
            v.model_sha256[:12],
            v.created_at[:19],
        )
    return table


def history_table(events: Iterable[StageEvent]) -> Table:
    table = Table(title="Stage history", title_justify="left")
    for col in ("at", "stage", "action", "from", "to", "actor", "reason"):
        table.add_column(col, overflow="fold")
    for e in events:
        table.add_row(
            e.at[:23],
            e.stage,
            e.action,
            version_label(e.from_version) if e.from_version is not None else "-",
            f"v{e.to_version}",
            e.actor,
            e.reason,
        )
    return table


def drift_verdict(drift: DriftReport) -> str:
    if not drift.enough_data:
        # PSI on a handful of rows is noise: no verdict either way.
        return (
            f"[yellow]too few rows to judge[/]: {drift.rows} live, "
            f"drift.min_rows is {drift.min_rows}"
        )
    return "[red]DRIFT[/]" if drift.drift_detected else "[green]no drift[/]"


def drift_table(drift: DriftReport, top: int = 8) -> Table:
    table = Table(
        title=f"Drift: {drift.rows} live rows vs {drift.reference_rows} training rows "
        f"({drift_verdict(drift)})",
        title_justify="left",
    )
    for col in ("feature", "PSI", "KS", "KS p-value", "drifted"):
        table.add_column(col)
    for f in sorted(drift.features, key=lambda f: f.psi, reverse=True)[:top]:
        flag = ("[red]yes[/]" if f.drifted else "no") if drift.enough_data else "[dim]?[/]"
        table.add_row(
            f.name,
            f"{f.psi:.3f}",
            f"{f.ks_statistic:.3f}" if f.ks_statistic is not None else "-",
            f"{f.ks_pvalue:.2e}" if f.ks_pvalue is not None else "-",
            flag,
        )
    return table


def metrics_table(versions: list[dict[str, Any]]) -> Table:
    table = Table(title="Metrics (held-out test split)", title_justify="left")
    table.add_column("model")
    for m in SHOWN_METRICS:
        table.add_column(m, justify="right")
    for v in versions:
        table.add_row(f"v{v['version']}", *(f"{v['metrics'][m]:.4f}" for m in SHOWN_METRICS))
    if versions:
        base = versions[0]["baseline"]
        table.add_row(
            "[dim]baseline (v1 split)[/]", *(f"[dim]{base[m]:.4f}[/]" for m in SHOWN_METRICS)
        )
    return table


def render_demo(console: Console, report: DemoReport) -> None:
    steps = Table(title=f"mlops demo on the {report.backend} backend", title_justify="left")
    for col in ("step", "result", "seconds", "detail"):
        steps.add_column(col, overflow="fold")
    for s in report.steps:
        steps.add_row(s.name, _ok(s.status == "passed"), f"{s.seconds:.2f}", s.detail)
    console.print(steps)
    for run in report.pipeline_runs:
        if run.transitions:
            console.print(f"[dim]{run.run_id} ({run.status}):[/] " + " -> ".join(run.transitions))
    if report.versions:
        console.print(metrics_table(report.versions))
    if report.monitoring:
        console.print(drift_table(report.monitoring.drift))
    if report.quarantine:
        console.print(
            validation_table(ValidationReport.model_validate(report.quarantine["report"]))
        )
    if report.history:
        console.print(history_table(StageEvent.model_validate(e) for e in report.history))
    verdict = "[bold green]PASSED[/]" if report.passed else "[bold red]FAILED[/]"
    console.print(
        f"{verdict} in {report.seconds:.1f}s: "
        f"{report.summary.get('versions_registered')} versions, "
        f"production serves {version_label(report.production_version)}, "
        f"drift detected: {report.summary.get('drift_detected')}, "
        f"quarantined: {report.summary.get('quarantined')}"
    )
