"""`mlops abtest` (a canary against production, decided by a sequential test) and
`mlops shadow report` (a shadow against the model it shadows). docs/abtest.md has the design."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from mlops_template.tooling.console import cell, markup
from mlops_template.tooling.options import ModelOption

if TYPE_CHECKING:
    from mlops_template.core.abtest import AbTestPlan, AbTestStatus
    from mlops_template.core.shadow import ShadowReport

CONTINUE_EXIT = 5
"""`mlops abtest decide`: 0 decided (promote or rollback), 5 no decision yet (keep collecting),
1 error (no test running, a stage moved since the test started)."""

abtest_app = typer.Typer(
    help="A/B test the canary against production: a sequential test on captured predictions "
    "with feedback decides promote, rollback or continue (docs/abtest.md).",
    no_args_is_help=True,
)
shadow_app = typer.Typer(
    help="Compare the shadow model with the model it shadows.", no_args_is_help=True
)


JsonOption = Annotated[bool, typer.Option("--json", help="JSON instead of tables.")]


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def plan_table(plan: AbTestPlan) -> Table:
    table = Table("look", "outcomes per arm", "|Z| boundary", title=markup("{} plan", plan.model))
    for i, (n, bound) in enumerate(zip(plan.looks, plan.bounds, strict=True), start=1):
        table.add_row(cell(i), cell(n), cell(f"{bound:.3f}"))
    return table


def _print_plan(plan: AbTestPlan) -> None:
    from mlops_template.tooling.cli import console

    console.print(
        markup(
            "A/B test of {}: control v{} (production) against experiment v{} (canary), "
            "metric {}, started {} by {}",
            plan.model,
            plan.control_version,
            plan.experiment_version,
            plan.metric,
            plan.started_at,
            plan.started_by,
        )
    )
    console.print(
        markup(
            "to detect {} points at alpha {} with power {} (baseline {:.3f}): {} outcomes per arm "
            "with one look, {} per arm with {} looks (x{:.3f})",
            round(plan.mde * 100, 2),
            plan.alpha,
            plan.power,
            plan.baseline,
            plan.fixed_n,
            plan.n_per_arm,
            len(plan.looks),
            plan.inflation,
        )
    )
    console.print(plan_table(plan))


def status_table(status: AbTestStatus) -> Table:
    table = Table("variant", "version", "outcomes", "successes", "rate")
    for arm in (status.control, status.experiment):
        table.add_row(
            cell(arm.variant),
            cell(f"v{arm.version}"),
            cell(arm.outcomes),
            cell(arm.successes),
            cell(_rate(arm.rate)),
        )
    return table


@abtest_app.command("start")
def abtest_start(
    model: ModelOption = None,
    mde: Annotated[float, typer.Option(help="Minimum detectable effect (0.03 = 3 points).")] = 0.03,
    alpha: Annotated[float, typer.Option(help="Two-sided significance level.")] = 0.05,
    power: Annotated[
        float,
        typer.Option(
            help="Power at the MDE (0.9: a canary truly MDE better is promoted 9 times in 10)."
        ),
    ] = 0.9,  # core.abtest.DEFAULT_POWER (not imported here: the CLI starts light)
    look_every: Annotated[
        int, typer.Option(min=10, help="Outcomes per arm between planned looks.")
    ] = 500,
    metric: Annotated[
        str, typer.Option(help="accuracy, or precision:<label> (correct among that label's).")
    ] = "accuracy",
    baseline: Annotated[
        float | None,
        typer.Option(help="Control's expected rate (default: production's recorded metric)."),
    ] = None,
) -> None:
    """Start an A/B test of the canary against production (needs a canary alias): plan the
    looks and the sample size, and store the plan."""
    from mlops_template.core.abtest import start_abtest
    from mlops_template.tooling.cli import _backend, _fail, _model, actor

    try:
        plan = start_abtest(
            _backend(),
            _model(model),
            mde=mde,
            alpha=alpha,
            power=power,
            look_every=look_every,
            metric=metric,
            baseline=baseline,
            actor=actor(),
        )
    except ValueError as exc:
        raise _fail(str(exc), 2) from exc
    _print_plan(plan)


@abtest_app.command("status")
def abtest_status_command(model: ModelOption = None, as_json: JsonOption = False) -> None:
    """Counts and rates per variant, the difference with its confidence interval, the current
    boundary and the decision so far."""
    from mlops_template.core.abtest import abtest_status
    from mlops_template.tooling.cli import _backend, _model

    status = abtest_status(_backend(), _model(model))
    if as_json:
        typer.echo(status.model_dump_json(indent=2))
        return
    _print_status(status)


def _print_status(status: AbTestStatus) -> None:
    from mlops_template.tooling.cli import console

    plan = status.plan
    console.print(
        markup(
            "A/B test of {}: v{} (control) against v{} (experiment), {} per arm at most",
            plan.model,
            plan.control_version,
            plan.experiment_version,
            plan.n_per_arm,
        )
    )
    if status.captured is not None:
        console.print(markup("[dim]{} captures read since {}[/]", status.captured, plan.started_at))
    console.print(status_table(status))
    last = status.last
    if last is not None:
        console.print(
            markup(
                "look {} of {} ({} per arm): difference {:+.4f}, {}% CI [{:+.4f}, {:+.4f}], "
                "Z {:.3f}, boundary +-{:.3f}",
                last.index,
                len(plan.looks),
                last.n,
                last.difference,
                round(100 * (1 - plan.alpha)),
                last.ci_low,
                last.ci_high,
                last.z,
                last.bound,
            )
        )
    colour = {"promote": "green", "rollback": "red", "continue": "yellow"}[status.decision]
    console.print(markup("decision: [" + colour + "]{}[/] ({})", status.decision, status.reason))


@abtest_app.command("decide")
def abtest_decide(
    model: ModelOption = None,
    apply: Annotated[
        bool,
        typer.Option(
            "--apply",
            help="Act on it: promote the canary's version to production, or point the canary "
            "back at production's version.",
        ),
    ] = False,
) -> None:
    """The test's decision. Exit codes: 0 decided (promote or rollback), 5 continue (no
    decision yet), 1 error."""
    from mlops_template.core.abtest import abtest_status, apply_decision
    from mlops_template.tooling.cli import _backend, _model, actor, console

    backend = _backend()
    status = abtest_status(backend, _model(model))
    _print_status(status)
    if status.decision == "continue":
        raise typer.Exit(CONTINUE_EXIT)
    if apply:
        applied = apply_decision(backend, status, actor=actor())
        console.print(markup("applied {}: {}", applied.decision, applied.detail))


@shadow_app.command("report")
def shadow_report_command(
    model: ModelOption = None,
    hours: Annotated[
        float, typer.Option(min=0.01, help="Read every capture of this many hours up to now.")
    ] = 24.0,
    examples: Annotated[int, typer.Option(min=0, help="Disagreements to list.")] = 10,
    as_json: JsonOption = False,
) -> None:
    """Agreement of the shadow with the served model (overall and per class), disagreements
    by prediction id, and both models' accuracy on the rows with feedback, over every capture
    of the window."""
    from datetime import UTC, datetime, timedelta

    from mlops_template.core.shadow import shadow_window_report
    from mlops_template.tooling.cli import _backend, _model

    name = _model(model)
    end = datetime.now(UTC)
    report = shadow_window_report(
        _backend().predictions, name, end - timedelta(hours=hours), end, examples=examples
    )
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
        return
    _print_shadow(report)


def _print_shadow(report: ShadowReport) -> None:
    from mlops_template.tooling.cli import console

    if report.captured is not None:
        console.print(
            markup(
                "[dim]{} captures read ({} to {})[/]",
                report.captured,
                report.window_start,
                report.window_end,
            )
        )
    if not report.pairs:
        console.print(
            markup("no captured prediction of {} was also scored by a shadow", report.model)
        )
        return
    versions = ", ".join(f"v{v}" for v in report.shadow_versions)
    served = ", ".join(f"v{v}" for v in report.served_versions)
    console.print(
        markup(
            "shadow {} against served {}: {} predictions, agreement {}",
            versions,
            served,
            report.pairs,
            _rate(report.agreement),
        )
    )
    classes = Table("served label", "predictions", "agreement", title="per class")
    for row in report.per_class:
        classes.add_row(cell(row.label), cell(row.pairs), cell(_rate(row.agreement)))
    console.print(classes)
    if report.disagreements:
        table = Table("prediction id", "served", "shadow", "true label", title="disagreements")
        for d in report.disagreements:
            table.add_row(
                cell(d.prediction_id),
                cell(f"v{d.served_version}: {d.served_label}"),
                cell(d.shadow_label),
                cell(d.true_label or ""),
            )
        console.print(table)
    console.print(
        markup(
            "on {} predictions with feedback: served accuracy {}, shadow accuracy {}",
            report.labelled,
            _rate(report.served_accuracy),
            _rate(report.shadow_accuracy),
        )
    )
