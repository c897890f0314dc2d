"""`mlops data forget` (erasure by a key column), `mlops explain` (one record through a
version's pipeline) and `mlops readiness` (the ML Test Score of a deployed model).
docs/ml-test-score.md has the design."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mlops_template.tooling.console import markup
from mlops_template.tooling.options import ModelOption

data_app = typer.Typer(help="Stored data: erasure of a person's rows.", no_args_is_help=True)


@data_app.command("forget")
def data_forget(
    key: Annotated[str, typer.Option(help="The key column (a customer id, an email...).")],
    value: Annotated[
        list[str] | None, typer.Option(help="A value of the key column to forget (repeatable).")
    ] = None,
    values_file: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="A file of values, one a line."),
    ] = None,
    model: ModelOption = None,
    retrain: Annotated[
        bool, typer.Option(help="Start the pipeline on the cleaned data (the default).")
    ] = True,
) -> None:
    """Delete every row whose KEY column holds one of the values: from the validated and
    quarantined data files and from the captured predictions; then retrain on the cleaned data,
    so the next version never saw those rows (promote it to replace the served one)."""
    from mlops_template.core.forget import forget
    from mlops_template.infra import build_pipeline_starter
    from mlops_template.tooling.cli import _backend, _fail, _model, _settings, actor, console

    values = list(value or [])
    if values_file is not None:
        values += [line.strip() for line in values_file.read_text().splitlines() if line.strip()]
    if not values:
        raise _fail("nothing to forget: give --value or --values-file")
    settings = _settings()
    backend = _backend(settings)
    starter = build_pipeline_starter(settings, backend) if retrain else None
    with console.status(markup("forgetting {} value(s) of {}", len(values), key)):
        result = forget(backend, _model(model), key, values, starter=starter, actor=actor())
    for cleaned in result.files:
        console.print(
            markup(
                "{}: {} row(s) removed, {} left -> {}",
                cleaned.old_key,
                cleaned.rows_removed,
                cleaned.rows_left,
                cleaned.new_key or "deleted",
            )
        )
    console.print(
        markup(
            "{} row(s) removed from {} file(s), {} captured prediction(s) deleted",
            result.rows_removed,
            len(result.files),
            result.captures_removed,
        )
    )
    if result.retrain is not None:
        verb = "started" if result.retrain.started else "already ran:"
        console.print(
            markup("retrain {} {} on {}", verb, result.retrain.execution, result.retrain_source)
        )
    elif retrain:
        console.print("no stored data held those rows: nothing to retrain")


def explain_command(
    version: Annotated[int, typer.Option(help="The model version to explain.")],
    record: Annotated[
        str, typer.Option(help='One record as JSON ({"feature": value, ...}), or @FILE.')
    ],
    model: ModelOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of tables.")] = False,
) -> None:
    """One record through a version's pipeline, for debugging: the values after each
    preprocessing step of its ONNX graph, the output, and each feature's contribution
    (baseline replacement against the training means; not SHAP)."""
    from pydantic import ValidationError
    from rich.table import Table

    from mlops_template.core.artifacts import read_verified
    from mlops_template.tooling.cli import _backend, _fail, _model, console
    from mlops_template.training.explain import explain
    from mlops_template.training.files import MODEL_FILE, SCHEMA_FILE
    from mlops_template.training.schema import DatasetSchema

    text = Path(record[1:]).read_text() if record.startswith("@") else record
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(f"--record is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise _fail("--record must be one JSON object of feature values")
    backend = _backend()
    name = _model(model)
    stored = backend.registry.get(name, version)
    schema = DatasetSchema.from_json(
        read_verified(backend.artifacts, stored.artifacts[SCHEMA_FILE])
    )
    try:  # the API's own validation: a bad field is named, as a 422 would name it
        valid = schema.record_model.model_validate(raw).model_dump()
    except ValidationError as exc:
        from mlops_template.training.config import one_line

        raise _fail(f"--record does not fit v{version}'s schema: {one_line(exc)}") from None
    result = explain(read_verified(backend.artifacts, stored.artifacts[MODEL_FILE]), schema, valid)
    if as_json:
        console.print_json(result.model_dump_json())
        return
    steps = Table("step", "op", "output", "values", title=f"{name} v{version}: the record's path")
    steps.add_row("input", "", "", json.dumps(valid)[:200])
    for step in result.steps:
        shown = ", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in step.values[:8])
        more = f" ... ({step.size} values)" if step.size > 8 else ""
        steps.add_row(step.node, step.op, step.output, shown + more)
    probabilities = ", ".join(f"{c}: {p:.6f}" for c, p in result.probabilities.items())
    steps.add_row("output", "", "label, probabilities", f"{result.label} ({probabilities})")
    console.print(steps)
    table = Table("feature", "value", "baseline", "contribution", title=result.method)
    for c in result.contributions:
        table.add_row(c.feature, str(c.value), str(c.baseline), f"{c.contribution:+.6f}")
    console.print(table)


def readiness_command(
    model: ModelOption = None,
    repo: Annotated[
        Path,
        typer.Option(
            file_okay=False, help="The repository whose Terraform, workflows and tests are read."
        ),
    ] = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
) -> None:
    """The ML Test Score of a deployed model: the rubric's 28 tests, each with the mechanism
    that holds it, the test in tests/ that holds the mechanism, where it ran last and its
    score, read from facts (config, run records, registry, Terraform alarms, workflows); the
    section sums and the final score (the minimum over the sections)."""
    from rich.table import Table

    from mlops_template.tooling.cli import _backend, _model, console
    from mlops_template.tooling.readiness import SECTIONS, readiness

    result = readiness(_backend(), _model(model), repo.resolve())
    if as_json:
        console.print_json(result.model_dump_json())
        return
    table = Table(
        "#", "test", "mechanism", "held by", "last", "score", title=f"ML Test Score: {result.model}"
    )
    for row in result.rows:
        mark = "[green]1[/]" if row.score == 1 else f"[red]{row.score:g}[/]"
        table.add_row(
            f"{row.section[0]}{row.number}",
            row.test,
            f"{row.mechanism}\n[dim]{row.evidence}[/]",
            row.holds,
            row.last,
            mark,
        )
    console.print(table)
    sums = ", ".join(f"{s} {result.sections[s]:g}" for s in SECTIONS)
    console.print(f"sections: {sums}; final score (minimum): {result.final:g}")
