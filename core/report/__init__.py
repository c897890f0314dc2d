"""A model's report for people: one self-contained HTML file (docs/reports.md).

`gather_report` reads the backend's ports into a `ModelReport`; `render_html` draws it (charts as
inline SVG); `publish_report` stores it in the artifacts store, where the scheduled monitor
writes it after each run and `mlops report` fetches it."""

from __future__ import annotations

from mlops_template.core.report.model import (
    ModelReport,
    ReadinessRow,
    ReadinessTable,
    gather_report,
)
from mlops_template.core.report.publish import REPORT_CONTENT_TYPE, publish_report, report_key

__all__ = [
    "REPORT_CONTENT_TYPE",
    "ModelReport",
    "ReadinessRow",
    "ReadinessTable",
    "gather_report",
    "publish_report",
    "report_key",
]
