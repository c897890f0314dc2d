"""`mlops train --sweep`: one recorded run per trial, the best through the gate, one version."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from mlops_template.core.records import RunRecord
from mlops_template.core.settings import Settings, get_settings
from mlops_template.infra.local import local_backend
from mlops_template.tooling.cli import ExitCode, app

GRID = """
method = "grid"
[[search]]
algorithm = "random_forest"
params = { n_estimators = [5, 10], max_depth = [2, 4] }
[[search]]
algorithm = "logistic_regression"
params = { C = [0.1, 1.0] }
"""
RANDOM = GRID.replace('method = "grid"', 'method = "random"\ntrials = 2\nseed = 3')


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLOPS_MODEL_NAME", "bc")
    get_settings.cache_clear()
    return tmp_path / "home"


@pytest.fixture
def run(home):
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args), catch_exceptions=False)

    return invoke


@pytest.fixture
def registry(home):
    return local_backend(Settings(home=home)).registry


def _file(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


def _sweep(run, data_file, spec, *extra: str):
    return run(
        "train", "--data", str(data_file), "--target", "diagnosis", "--sweep", str(spec), *extra
    )


def _runs_of(registry, sweep: str) -> list[RunRecord]:
    return sorted(
        (r for r in registry.runs("bc") if r.sweep == sweep), key=lambda r: int(r.run_id[-1])
    )


def _metrics_by_config(runs: list[RunRecord]) -> dict[str, float]:
    return {str(r.hyperparameters): r.metrics["roc_auc"] for r in runs}


def test_a_sweep_of_6_trials_records_6_runs_and_registers_one_version(
    run, registry, data_file, tmp_path
):
    spec = _file(tmp_path, "sweep.toml", GRID)
    result = _sweep(run, data_file, spec, "--run-id", "first", "--promote", "staging")
    assert result.exit_code == ExitCode.OK, result.output
    assert "registered v1 from trial" in result.output and "promoted to staging" in result.output
    runs = _runs_of(registry, "first")
    assert [r.run_id for r in runs] == [f"first-t{k}" for k in range(1, 7)]
    assert len(registry.versions("bc")) == 1
    [best] = [r for r in runs if r.status != "not_selected"]
    best_trial = best.run_id.rsplit("-", 1)[1]
    assert best.status == "registered" and best.version == 1
    assert registry.get("bc", 1).run_id == best.run_id
    for r in runs:
        assert r.ended_at and r.data_sha256 and r.rows["test"] > 0
        assert r.hyperparameters["algorithm"] in ("random_forest", "logistic_regression")
        if r is not best:
            reason = rf"roc_auc 0\.\d{{3}} [<=] best 0\.\d{{3}} \(trial {best_trial}(, earlier)?\)"
            assert re.fullmatch(reason, r.reason), r.reason
            assert r.metrics["roc_auc"] <= best.metrics["roc_auc"] + 1e-6
    # The winner's model section is now the stored config: what retrains use.
    assert json.loads(run("config", "show").output)["model"] == best.config["model"]

    again = _sweep(run, data_file, spec, "--run-id", "second")
    assert again.exit_code == ExitCode.OK, again.output
    second = _runs_of(registry, "second")
    assert len(second) == 6 and len(registry.versions("bc")) == 2
    assert _metrics_by_config(second) == _metrics_by_config(runs)
    assert [r.status for r in second] == [r.status for r in runs]


def test_a_random_sweep_with_a_seed_draws_the_same_trials(run, registry, data_file, tmp_path):
    spec = _file(tmp_path, "random.toml", RANDOM)
    for sweep in ("r1", "r2"):
        assert _sweep(run, data_file, spec, "--run-id", sweep).exit_code == ExitCode.OK
    first, second = _runs_of(registry, "r1"), _runs_of(registry, "r2")
    assert len(first) == 2
    assert [r.hyperparameters for r in first] == [r.hyperparameters for r in second]
    assert _metrics_by_config(first) == _metrics_by_config(second)


def test_max_trials_caps_the_sweep(run, registry, data_file, tmp_path):
    spec = _file(tmp_path, "sweep.toml", GRID)
    result = _sweep(run, data_file, spec, "--run-id", "capped", "--max-trials", "2")
    assert result.exit_code == ExitCode.OK, result.output
    assert "first 2 of 6 trials" in result.output
    assert [r.run_id for r in _runs_of(registry, "capped")] == ["capped-t1", "capped-t2"]


def test_a_gate_that_refuses_everything_exits_4_with_6_runs_and_no_version(
    run, registry, data_file, tmp_path
):
    spec = _file(tmp_path, "sweep.toml", GRID)
    config = _file(tmp_path, "c.toml", "[gate]\nmin_lift_over_baseline = 0.9\n")
    result = _sweep(run, data_file, spec, "--run-id", "strict", "--config", str(config))
    assert result.exit_code == ExitCode.GATE_FAILED, result.output
    assert "gate failed, nothing registered" in result.output
    runs = _runs_of(registry, "strict")
    assert len(runs) == 6 and registry.versions("bc") == []
    assert sorted(r.status for r in runs) == ["gate_failed"] + ["not_selected"] * 5
    # Nothing registered: the refused config is not stored for retrains.
    assert "no config stored" in run("config", "show").output


def test_a_trial_that_fails_is_recorded_and_the_others_go_on(run, registry, data_file, tmp_path):
    spec = _file(
        tmp_path,
        "sweep.toml",
        '[[search]]\nalgorithm = "random_forest"\n'
        "params = { n_estimators = 5, max_depth = [-1, 2] }\n",
    )
    result = _sweep(run, data_file, spec, "--run-id", "half")
    assert result.exit_code == ExitCode.OK, result.output
    failed, best = _runs_of(registry, "half")
    assert failed.status == "error" and "max_depth" in failed.reason
    assert best.status == "registered"


def test_data_refused_leaves_the_first_trials_record_and_exits_3(
    run, registry, data_file, tmp_path
):
    spec = _file(tmp_path, "sweep.toml", GRID)
    few = tmp_path / "few.csv"
    few.write_text("".join(data_file.read_text().splitlines(keepends=True)[:6]))
    result = _sweep(run, few, spec, "--run-id", "tiny")
    assert result.exit_code == ExitCode.DATA_REJECTED, result.output
    [record] = _runs_of(registry, "tiny")
    assert record.run_id == "tiny-t1" and record.status == "rejected_data"
    assert "quarantined" in record.reason and record.sweep == "tiny"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[[search]]\nalgorithm = "svm"\n', "search.0.algorithm"),
        ('[[search]]\nalgorithm = "random_forest"\nparams = { max_depth = [] }\n', "max_depth"),
        ('method = "grid"\nsearchh = []\n', "searchh"),
    ],
)
def test_a_bad_sweep_file_is_a_usage_error_naming_the_field(
    run, registry, data_file, tmp_path, text, named
):
    spec = _file(tmp_path, "bad.toml", text)
    result = _sweep(run, data_file, spec)
    assert result.exit_code == ExitCode.USAGE
    assert named in result.output and registry.runs("bc") == []


def test_a_sweep_on_sagemaker_is_refused(run, data_file, tmp_path):
    spec = _file(tmp_path, "sweep.toml", GRID)
    result = _sweep(run, data_file, spec, "--on", "sagemaker")
    assert result.exit_code == ExitCode.USAGE and "sagemaker" in result.output
