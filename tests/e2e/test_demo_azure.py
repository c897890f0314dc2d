"""`mlops demo --azure-emulated` as a user runs it: it starts Azurite itself, runs the lifecycle
through the function app's functions, stops Azurite, and reports."""

from __future__ import annotations

import json
import subprocess

import pytest

from mlops_template.tooling.azurite import missing_tools

from .test_demo import mlops_command


@pytest.mark.slow
def test_the_azure_emulated_demo_runs_the_whole_lifecycle(tmp_path):
    if reason := missing_tools():
        pytest.skip(reason)
    report_path = tmp_path / "report.json"
    result = subprocess.run(
        [*mlops_command(), "demo", "--azure-emulated", "--report", str(report_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(report_path.read_text())
    assert report["passed"] and report["backend"] == "azure-emulated"
    runs = report["pipeline_runs"]
    assert runs[0]["status"] == "registered"
    assert [s["name"] for s in runs[0]["steps"]] == ["validate", "train", "evaluate", "register"]
    assert runs[-1]["error_type"] == "DataValidationError"  # the corrupted file
    assert report["quarantine"]["report"]["passed"] is False
    assert "Azurite (stopped)" in result.stdout
