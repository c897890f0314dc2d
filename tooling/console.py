"""Rich rendering of what the CLI shows: reports, registry tables, drift tables.

Column names, labels, file names, reasons and error messages come from users' files and
options: Rich would read `[/x]` in them as markup (and fail). Markup therefore comes only from
our own templates: `markup(template, *values)` escapes (and cuts) every value it fills in, and
nothing else builds text for Rich (a test of the CLI's source holds that).
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table

from mlops_template.core.records import (
    ModelVersion,
    RunRecord,
    StageAlias,
    StageEvent,
    version_label,
)
from mlops_template.training.drift import DriftReport, WindowDrift
from mlops_template.training.validation import ValidationReport, excerpt

if TYPE_CHECKING:
    from mlops_template.core.freshness import FreshnessReport
    from mlops_template.core.sweep import SweepResult
    from mlops_template.tooling.demo import DemoReport
    from mlops_template.training.timesplit import Backtest

SHOWN_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
MAX_SHOWN_CHARS = 1000  # per value: a 50 MB cell or message prints as its first 1000 characters


class _EscapingFormatter(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        # After any !r conversion and format spec, so that the escape survives both.
        return escape(excerpt(super().format_field(value, format_spec), MAX_SHOWN_CHARS))


_FORMATTER = _EscapingFormatter()


def markup(template: str, /, *args: Any, **kwargs: Any) -> str:
    """`template.format(...)` for Rich: markup from the template, every value shown as itself."""
    return _FORMATTER.format(template, *args, **kwargs)


def cell(value: Any) -> str:
    """One value as a table cell, shown as itself."""
    return markup("{}", value)


SEVERITY = {"error": "[red]error[/]", "warning": "[yellow]warning[/]"}


def _ok(flag: bool) -> str:
    return "[green]passed[/]" if flag else "[red]failed[/]"


def validation_table(report: ValidationReport) -> Table:
    verdict = "[green]valid[/]" if report.passed else "[red]rejected[/]"
    table = Table(
        title=markup("{}: ", report.source) + verdict + markup(", {} rows", report.rows),
        title_justify="left",
    )
    for col in ("severity", "check", "column", "rows", "lines", "message"):
        table.add_column(col, overflow="fold")
    for issue in report.issues:
        table.add_row(
            SEVERITY[issue.severity],
            cell(issue.check),
            cell(issue.column or ""),
            cell(issue.count or ""),
            cell(", ".join(map(str, issue.lines))),
            cell(issue.message),
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
            markup("v{}", v.version),
            cell(", ".join(sorted(stages_of.get(v.version, [])))),
            _ok(v.gate_passed),
            markup("{:.4f}", v.metrics.get("roc_auc", float("nan"))),
            markup("{:.4f}", v.metrics.get("f1", float("nan"))),
            cell(v.data_sha256[:12]),
            cell(v.model_sha256[:12]),
            cell(v.created_at[:19]),
        )
    return table


def history_table(events: Iterable[StageEvent]) -> Table:
    table = Table(title="Stage history", title_justify="left")
    for col in ("at", "stage", "action", "from", "to", "actor", "reason"):
        table.add_column(col, overflow="fold")
    for e in events:
        table.add_row(
            cell(e.at[:23]),
            cell(e.stage),
            cell(e.action),
            cell(version_label(e.from_version) if e.from_version is not None else "-"),
            markup("v{}", e.to_version),
            cell(e.actor),
            cell(e.reason),
        )
    return table


STATUS_WIDTH = len("rejected_data")
STATUS_STYLE = {
    "registered": "green",
    "gate_failed": "yellow",
    "rejected_data": "red",
    "error": "red",
    "not_selected": "dim",
    "running": "cyan",
}


def _gate_metric(run: RunRecord) -> str:
    """The metric the run was judged on (its gate's), as `roc_auc 0.9512`."""
    metric = run.config.get("gate", {}).get("metric") or (
        "rmse" if "rmse" in run.metrics else "roc_auc"  # the task's default
    )
    value = run.metrics.get(metric)
    return "-" if value is None else f"{metric} {value:.4f}"


def runs_listing(runs: Iterable[RunRecord], reason_chars: int = 240) -> list[Any]:
    """Two lines a run (readable at any width): what it was, then why it ended so, cut short
    (`mlops runs show` has the whole record)."""
    lines: list[Any] = []
    for run in runs:
        style = STATUS_STYLE.get(run.status, "white")
        lines.append(
            markup(
                "[bold]{}[/]  [" + style + "]{}[/]  {}  {}  {}",
                run.run_id,
                run.status.ljust(STATUS_WIDTH),
                run.started_at[:16].replace("T", " ") or "-",
                _gate_metric(run),
                version_label(run.version) if run.version is not None else "",
            ).rstrip()
        )
        reason = run.reason or ("in progress" if run.status == "running" else "")
        if len(reason) > reason_chars:
            reason = reason[: reason_chars - 3] + "..."
        if reason:
            lines.append(Padding(markup("[dim]{}[/]", reason), (0, 0, 0, 2)))
    return lines


def run_comparison(runs: list[RunRecord]) -> dict[str, dict[str, list[Any]]]:
    """What describes and scores the runs, by section (`run`, `hyperparameters`, `metrics`):
    for each name, one value per run, in the order given."""
    described: dict[str, list[Any]] = {
        "status": [r.status for r in runs],
        "data_sha256": [r.data_sha256 or None for r in runs],
        "rows": [dict(r.rows) or None for r in runs],
        "code_version": [r.code_version or None for r in runs],
        "version": [r.version for r in runs],
    }
    params = sorted({k for r in runs for k in r.hyperparameters})
    metrics = sorted({k for r in runs for k in r.metrics})
    return {
        "run": described,
        "hyperparameters": {p: [r.hyperparameters.get(p) for r in runs] for p in params},
        "metrics": {m: [r.metrics.get(m) for r in runs] for m in metrics},
    }


def differing(comparison: dict[str, dict[str, list[Any]]]) -> list[str]:
    """`section.name` of each row whose values are not all the same."""
    return [
        f"{section}.{name}"
        for section, rows in comparison.items()
        for name, values in rows.items()
        if len({repr(v) for v in values}) > 1
    ]


HASHES = ("data_sha256", "code_version")  # shown by their first 12 characters, as git does


def _compared(name: str, value: Any) -> str:
    """Plain text of a compared value (cell() escapes it)."""
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    if value is None:
        return "-"
    return str(value)[:12] if name in HASHES else str(value)


def comparison_table(runs: list[RunRecord]) -> Table:
    comparison = run_comparison(runs)
    differ = set(differing(comparison))
    table = Table(
        title="Runs side by side (rows that differ marked *, in yellow)", title_justify="left"
    )
    table.add_column("")
    for run in runs:
        table.add_column(cell(run.run_id), overflow="fold")
    for section, rows in comparison.items():
        for name, values in rows.items():
            changed = f"{section}.{name}" in differ
            label = ("* " if changed else "  ") + name
            table.add_row(
                cell(label),
                *(cell(_compared(name, v)) for v in values),
                style="yellow" if changed else "dim",
                end_section=name == list(rows)[-1],
            )
    return table


def sweep_table(result: SweepResult) -> Table:
    """One row per trial: what it tried, its held-out score, what became of it."""
    table = Table(
        title=markup(
            "Sweep {}: {} trials, best by {}", result.sweep_id, len(result.trials), result.metric
        ),
        title_justify="left",
    )
    for col in ("run id", "algorithm", "params", result.metric, "status", "reason"):
        table.add_column(cell(col), overflow="fold")
    for t in result.trials:
        score = t.metrics.get(result.metric)
        table.add_row(
            cell(t.run_id),
            cell(t.model.algorithm),
            cell(", ".join(f"{k}={v}" for k, v in t.model.params.items()) or "-"),
            markup("{:.4f}", score) if score is not None else "-",
            markup("[" + STATUS_STYLE.get(t.status, "white") + "]{}[/]", t.status),
            cell("" if t.status == "not_selected" else t.reason),  # the score says why
        )
    return table


def drift_verdict(drift: DriftReport) -> str:
    if not drift.enough_data:
        # PSI on a handful of rows is noise: no verdict either way.
        return markup(
            "[yellow]too few rows to judge[/]: {} live, drift.min_rows is {}",
            drift.rows,
            drift.min_rows,
        )
    return "[red]DRIFT[/]" if drift.drift_detected else "[green]no drift[/]"


def drift_table(drift: DriftReport, top: int = 8) -> Table:
    table = Table(
        title=markup("Drift: {} live rows vs {} training rows (", drift.rows, drift.reference_rows)
        + drift_verdict(drift)
        + ")",
        title_justify="left",
    )
    for col in ("feature", "PSI", "KS", "KS p-value", "drifted"):
        table.add_column(col)
    for f in sorted(drift.features, key=lambda f: f.psi, reverse=True)[:top]:
        flag = ("[red]yes[/]" if f.drifted else "no") if drift.enough_data else "[dim]?[/]"
        table.add_row(
            cell(f.name),
            markup("{:.3f}", f.psi),
            markup("{:.3f}", f.ks_statistic) if f.ks_statistic is not None else "-",
            markup("{:.2e}", f.ks_pvalue) if f.ks_pvalue is not None else "-",
            flag,
        )
    return table


def drift_windows_table(windows: list[WindowDrift]) -> Table:
    table = Table(title="Drift per window", title_justify="left")
    for col in ("from", "to", "rows", "drifted share", "max PSI", "drifted features"):
        table.add_column(col)
    for w in windows:
        flag = ("[red]yes[/]" if w.drift_detected else "no") if w.enough_data else "[dim]?[/]"
        table.add_row(
            cell(w.start[:16]),
            cell(w.end[:16]),
            markup("{}", w.rows),
            markup("{:.2f} ", w.drifted_share) + flag,
            markup("{:.3f}", w.max_psi),
            cell(", ".join(w.drifted_features) or "-"),
        )
    return table


def freshness_verdict(freshness: FreshnessReport) -> str:
    """The data's and the served model's ages, or why there are none (no time column)."""
    if freshness.data_age_hours is None and freshness.model_data_age_hours is None:
        return "freshness: no time column (time.column) recorded for this model"

    def age(hours: float | None, newest: str | None) -> str:
        return "n/a" if hours is None else markup("{:.1f} h (newest {})", hours, newest or "")

    return (
        "data age "
        + age(freshness.data_age_hours, freshness.data_newest_timestamp)
        + ("; model's training data age ")
        + age(freshness.model_data_age_hours, freshness.model_data_newest_timestamp)
    )


def metrics_table(versions: list[dict[str, Any]]) -> Table:
    from mlops_template.training.evaluate import METRICS

    table = Table(title="Metrics (held-out test split)", title_justify="left")
    table.add_column("model")
    # The task's metrics, in the registry's order (a regression has RMSE, MAE, R², MAPE).
    recorded = {m for v in versions for m in v["metrics"]}
    shown = [m for m in METRICS if m in recorded] or list(SHOWN_METRICS)

    for m in shown:
        table.add_column(m, justify="right")
    for v in versions:
        table.add_row(
            markup("v{}", v["version"]),
            *(markup("{:.4f}", v["metrics"].get(m, float("nan"))) for m in shown),
        )
    if versions:
        base = versions[0]["baseline"]
        table.add_row(
            "[dim]baseline (v1 split)[/]",
            *(markup("[dim]{:.4f}[/]", base.get(m, float("nan"))) for m in shown),
        )
    return table


def render_demo(console: Console, report: DemoReport) -> None:
    steps = Table(
        title=markup("mlops demo on the {} backend", report.backend), title_justify="left"
    )
    for col in ("step", "result", "seconds", "detail"):
        steps.add_column(col, overflow="fold")
    for s in report.steps:
        steps.add_row(
            cell(s.name), _ok(s.status == "passed"), markup("{:.2f}", s.seconds), cell(s.detail)
        )
    console.print(steps)
    for run in report.pipeline_runs:
        if run.transitions:
            console.print(
                markup("[dim]{} ({}):[/] {}", run.run_id, run.status, " -> ".join(run.transitions))
            )
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
        verdict
        + markup(
            " in {:.1f}s: {} versions, production serves {}, drift detected: {}, quarantined: {}",
            report.seconds,
            report.summary.get("versions_registered"),
            version_label(report.production_version),
            report.summary.get("drift_detected"),
            report.summary.get("quarantined"),
        )
    )


def backtest_table(result: Backtest) -> Table:
    """One row per fold (the model trained on the past, scored on the next period), then the
    mean and the spread over the folds."""
    table = Table(
        title=markup("Backtest: {} over {} folds in time order", result.metric, len(result.folds)),
        title_justify="left",
    )
    for col in ("fold", "train rows", "test rows", "from", "to", result.metric, "baseline"):
        table.add_column(cell(col), overflow="fold")
    for f in result.folds:
        table.add_row(
            cell(f.fold),
            cell(f.train_rows),
            cell(f.test_rows),
            cell(f.start),
            cell(f.end),
            markup("{:.4f}", f.value),
            markup("{:.4f}", f.baseline),
        )
    table.add_section()
    table.add_row("mean", "", "", "", "", markup("{:.4f}", result.mean), "")
    table.add_row("spread", "", "", "", "", markup("{:.4f}", result.spread), "")
    return table
