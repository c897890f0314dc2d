"""`mlops demo --features` as a user runs it: the console script, a fresh state directory."""

from __future__ import annotations

import subprocess

import pytest

from .test_demo import mlops_command


@pytest.mark.slow
def test_the_feature_store_demo_trains_from_a_training_set_and_predicts_by_entity(tmp_path):
    result = subprocess.run(
        [*mlops_command(), "demo", "--features", "--home", str(tmp_path / "state")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "older one refused online (1)" in out
    assert "1500 payments kept (of 1500)" in out
    assert "registered and in production" in out
    assert "no skew" in out
    assert (tmp_path / "state" / "online-features.db").is_file()
