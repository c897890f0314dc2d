"""Where a model's report is kept: one object per model in the artifacts store (the private,
encrypted artifacts bucket on AWS), replaced by each monitor run."""

from __future__ import annotations

from datetime import timedelta

from mlops_template.core.backend import Backend
from mlops_template.core.monitoring import DEFAULT_WINDOW
from mlops_template.core.report.html import render_html
from mlops_template.core.report.model import gather_report

REPORT_PREFIX = "reports/"
REPORT_CONTENT_TYPE = "text/html; charset=utf-8"


def report_key(model: str) -> str:
    return f"{REPORT_PREFIX}{model}/index.html"


def publish_report(
    backend: Backend,
    model: str,
    *,
    environment: str,
    stage: str = "production",
    window: timedelta = DEFAULT_WINDOW,
) -> str:
    """Gather, render and store the report; returns its key."""
    report = gather_report(backend, model, environment=environment, stage=stage, window=window)
    key = report_key(model)
    backend.artifacts.put(key, render_html(report).encode(), content_type=REPORT_CONTENT_TYPE)
    return key
