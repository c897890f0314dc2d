"""The coverage floor on training/ (ML Test Score, Data 7): the training unit tests, run under
coverage, must cover at least `[tool.coverage.report] fail_under` percent of the package. A
new feature path without tests shows up here as a drop below the floor."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TRAINING_UNIT_TESTS = (
    "tests/unit/test_gate.py",
    "tests/unit/test_model_tests.py",
    "tests/unit/test_regression_assessment.py",
    "tests/unit/test_training.py",
    "tests/unit/test_schema.py",
    "tests/unit/test_validation.py",
    "tests/unit/test_time_columns.py",
    "tests/unit/test_freshness.py",
)


@pytest.mark.slow
def test_the_training_unit_tests_hold_the_coverage_floor(tmp_path):
    floor = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["coverage"]["report"][
        "fail_under"
    ]
    assert floor >= 65
    env = {**os.environ, "COVERAGE_FILE": str(tmp_path / ".coverage")}
    result = subprocess.run(
        [
            sys.executable, "-m", "pytest", *TRAINING_UNIT_TESTS,
            "--cov=mlops_template.training", "--cov-report=term", "-n", "0", "-q",
            "-p", "no:cacheprovider",
        ],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    # pytest-cov reads the floor from pyproject and fails the run below it.
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert re.search(rf"Required test coverage of {floor}(\.0+)?% reached", result.stdout), (
        result.stdout[-2000:]
    )
