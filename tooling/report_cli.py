"""`mlops report`: a model's report as one self-contained HTML file (docs/reports.md).

Built here from the backend's ports, or, where the scheduled monitor keeps one (the artifacts
bucket on AWS), fetched with the caller's own credentials."""

from __future__ import annotations

import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlops_template.tooling.console import markup
from mlops_template.tooling.options import ModelOption

if TYPE_CHECKING:  # the report's modules load when a report is written, not for `mlops --help`
    from mlops_template.core.backend import Backend
    from mlops_template.core.report import ReadinessTable

REPORT_FILE = "{model}-report.html"


def readiness_table(backend: Backend, model: str, repo: Path) -> ReadinessTable | None:
    """The ML Test Score (tooling/readiness.py) for the report, where `repo` is the project's
    repository (its Terraform, workflows and tests are the facts it reads)."""
    if not (repo / "terraform").is_dir():
        return None
    from mlops_template.core.report import ReadinessRow, ReadinessTable
    from mlops_template.tooling.readiness import readiness

    found = readiness(backend, model, repo)
    return ReadinessTable(
        rows=[
            ReadinessRow(
                section=r.section, number=r.number, test=r.test, score=r.score, evidence=r.evidence
            )
            for r in found.rows
        ],
        sections=found.sections,
        final=found.final,
    )


def write_report(
    backend: Backend,
    model: str,
    out: Path,
    *,
    environment: str = "local",
    repo: Path | None = None,
) -> Path:
    """Gather and render the report into `out` (a folder); returns the file's path."""
    from mlops_template.core.report import gather_report
    from mlops_template.core.report.html import render_html

    readiness = readiness_table(backend, model, repo) if repo is not None else None
    report = gather_report(backend, model, environment=environment, readiness=readiness)
    out.mkdir(parents=True, exist_ok=True)
    path = out / REPORT_FILE.format(model=model)
    path.write_text(render_html(report), encoding="utf-8")
    return path


def report_command(
    model: ModelOption = None,
    out: Annotated[
        Path, typer.Option(file_okay=False, help="Folder the HTML file is written to.")
    ] = Path("."),
    open_it: Annotated[
        bool, typer.Option("--open", help="Open the report in the default browser.")
    ] = False,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh",
            help="Build the report now even where the monitor keeps one (AWS: the artifacts "
            "bucket's reports/<model>/index.html, fetched otherwise).",
        ),
    ] = False,
    repo: Annotated[
        Path,
        typer.Option(
            file_okay=False,
            help="The repository read for the ML Test Score table (left out if it has no "
            "terraform/ folder).",
        ),
    ] = Path("."),
) -> None:
    """Write a model's report: summary, model cards, metrics over versions, stage timeline,
    drift per feature, live quality, and A/B, shadow, sweeps, slices, importance and the ML
    Test Score where they exist. One HTML file, no network needed to view it."""
    from mlops_template.core.ports import BlobNotFound
    from mlops_template.core.report import report_key
    from mlops_template.tooling.cli import _backend, _model, _settings, console

    settings = _settings()
    backend = _backend(settings)
    name = _model(model)
    path = out / REPORT_FILE.format(model=name)
    stored = None
    if backend.name != "local" and not fresh:
        try:
            stored = backend.artifacts.get(report_key(name))
        except BlobNotFound:
            stored = None
    if stored is not None:
        out.mkdir(parents=True, exist_ok=True)
        path.write_bytes(stored)
        source = backend.artifacts.uri(report_key(name))
        console.print(markup("report fetched from {} to {}", source, path), soft_wrap=True)
    else:
        path = write_report(
            backend, name, out, environment=settings.environment, repo=repo.resolve()
        )
        console.print(markup("report written to {}", path), soft_wrap=True)
    if open_it:
        webbrowser.open(path.resolve().as_uri())
