"""`mlops demo` as a user runs it: the console script, a fresh state directory, a JSON report."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def mlops_command() -> list[str]:
    script = Path(sys.executable).with_name("mlops")
    if script.exists():
        return [str(script)]
    found = shutil.which("mlops")
    assert found, "the mlops console script is not installed"
    return [found]


@pytest.mark.slow
def test_demo_runs_the_whole_lifecycle_and_reports_it(tmp_path):
    report_path = tmp_path / "report.json"
    result = subprocess.run(
        [*mlops_command(), "demo", "--report", str(report_path), "--home", str(tmp_path / "state")],
        capture_output=True,
        text=True,
        timeout=300,  # the demo tunes, trains and gates twice: minutes on a loaded machine
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "PASSED" in result.stdout
    # The command it prints to inspect the state works as printed.
    inspect = re.search(r"inspect it with: (MLOPS_HOME=.*)", result.stdout)
    assert inspect, result.stdout[-500:]
    # It ends with the model's HTML report (docs/reports.md): under 3 MB, in the state folder.
    printed = re.search(r"HTML report of the model: (\S+\.html)", result.stdout)
    assert printed, result.stdout[-500:]
    html_report = Path(printed.group(1))
    assert html_report.parent == tmp_path / "state"
    assert 0 < html_report.stat().st_size < 3 * 1024 * 1024
    listing = subprocess.run(
        inspect.group(1), shell=True, capture_output=True, text=True, timeout=60, check=False
    )
    assert listing.returncode == 0 and "v1" in listing.stdout, listing.stdout + listing.stderr
    report = json.loads(report_path.read_text())

    assert report["passed"] is True
    assert report["seconds"] > 0  # how fast is for benchmarks; under load this varies
    assert [s["status"] for s in report["steps"]] == ["passed"] * len(report["steps"])
    assert len(report["steps"]) == 9

    first_run = report["pipeline_runs"][0]
    assert first_run["status"] == "registered" and first_run["gate"]["passed"]
    assert [s["name"] for s in first_run["steps"]] == ["validate", "train", "evaluate", "register"]
    versions = report["versions"]
    assert versions[0]["metrics"]["roc_auc"] > versions[0]["baseline"]["roc_auc"] + 0.3

    assert report["invalid_request"]["status"] == 422
    assert report["invalid_request"]["detail"][0]["loc"] == ["body", "records", 0, "mean_radius"]
    assert len(report["predictions"]) == 5

    drift = report["monitoring"]["drift"]
    assert drift["drift_detected"] is True
    assert {"mean_radius", "worst_area"} <= set(drift["drifted_features"])

    retrain = report["pipeline_runs"][1]
    assert retrain["gate"]["production_version"] == 1
    assert retrain["status"] in ("registered", "rejected")

    corrupted = report["pipeline_runs"][2]
    assert (corrupted["status"], corrupted["error_type"]) == ("failed", "DataValidationError")
    checks = {i["check"] for i in report["quarantine"]["report"]["issues"]}
    assert {"missing_column", "type_mismatch"} <= checks

    moves = [(e["stage"], e["action"], e["to_version"]) for e in report["history"]]
    assert moves[:2] == [("staging", "promote", 1), ("production", "promote", 1)]
    if retrain["status"] == "registered":
        assert moves[-1] == ("production", "rollback", 1)
    else:
        assert "refused" in report["rollback"]
    assert report["summary"]["production_version"] == report["production_version"] == 1


@pytest.mark.slow
def test_the_regression_demo_runs_the_lifecycle_on_the_diabetes_table(tmp_path):
    report_path = tmp_path / "report.json"
    result = subprocess.run(
        [
            *mlops_command(),
            "demo",
            "--task",
            "regression",
            "--report",
            str(report_path),
            "--home",
            str(tmp_path / "state"),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(report_path.read_text())
    assert report["passed"] is True and report["task"] == "regression"
    first = report["versions"][0]
    assert first["gate"]["metric"] == "rmse"
    assert first["metrics"]["rmse"] < first["baseline"]["rmse"]
    assert {"rmse", "mae"} <= set(report["summary"]["production_metrics"])
    prediction = report["predictions"][0]
    low, high = prediction["interval"]
    assert low < prediction["value"] < high and "true_value" in prediction
    monitoring = report["monitoring"]
    assert monitoring["feedback_rmse"] > 0 and monitoring["prediction_drift"]["drifted"]
