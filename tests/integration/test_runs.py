"""Every training run is recorded, whatever became of it, and `mlops runs` lists, shows and
compares them (local backend, a temporary MLOPS_HOME)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlops_template.core.pipeline import LocalPipeline, PipelineSteps
from mlops_template.tooling.cli import ExitCode
from mlops_template.training.config import TrainingConfig
from mlops_template.training.datasets import TARGET

from .conftest import MODEL


@pytest.fixture
def noise_file(tmp_path):
    """Labels that no feature predicts: a model that cannot beat the baseline."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(400, 5)), columns=[f"x{i}" for i in range(5)])
    frame["y"] = rng.integers(0, 2, 400)
    path = tmp_path / "noise.csv"
    frame.to_csv(path, index=False)
    return path


def config_file(tmp_path, name: str, model: dict) -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"model_name": MODEL, "target": TARGET, "model": model}))
    return str(path)


def listed(run, *args: str) -> list[dict]:
    """`runs list --json`: JSON lines, one run a line."""
    result = run("runs", "list", "--json", *args)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


def test_runs_refused_by_the_gate_and_by_validation_are_listed_with_their_reason(
    run, noise_file, data_file, tmp_path
):
    assert run("train", "--data", str(noise_file), "--target", "y", "-m", "noise").exit_code == 4
    refused = listed(run, "-m", "noise")
    assert [(r["status"], r["version"]) for r in refused] == [("gate_failed", None)]
    assert "baseline" in refused[0]["reason"] and refused[0]["metrics"]["roc_auc"] < 0.6
    table = run("runs", "list", "-m", "noise")
    assert "gate_failed" in table.output and "baseline" in table.output

    assert run("train", "--data", str(data_file), "--target", TARGET).exit_code == 0
    bad = tmp_path / "bad.csv"
    bad.write_bytes(data_file.read_bytes().replace(b"benign", b"healthy", 20))
    assert run("train", "--data", str(bad)).exit_code == ExitCode.DATA_REJECTED
    newest, first = listed(run)
    assert (newest["status"], first["status"], first["version"]) == (
        "rejected_data",
        "registered",
        1,
    )
    assert "labels outside" in newest["reason"] and "quarantine" in newest["reason"]
    assert newest["source"].endswith("bad.csv") and newest["config"]["target"] == TARGET
    assert [r["run_id"] for r in listed(run, "--status", "rejected_data")] == [newest["run_id"]]
    assert listed(run, "--since", "2999-01-01") == []


def test_compare_shows_what_differs_between_two_runs(run, data_file, tmp_path):
    forest = config_file(
        tmp_path, "forest", {"algorithm": "random_forest", "params": {"max_depth": 2}}
    )
    boosted = config_file(tmp_path, "boosted", {"algorithm": "hist_gradient_boosting"})
    assert run("train", "--data", str(data_file), "--config", forest).exit_code == 0
    assert run("train", "--data", str(data_file), "--config", boosted).exit_code in (0, 4)
    second, first = (r["run_id"] for r in listed(run))
    compared = run("runs", "compare", first, second, "--json")
    assert compared.exit_code == 0, compared.output
    document = json.loads(compared.output)
    assert document["runs"] == [first, second]
    assert {
        "hyperparameters.algorithm",
        "hyperparameters.params.max_depth",
        "metrics.roc_auc",
    } <= set(document["differ"])
    assert document["hyperparameters"]["algorithm"] == ["random_forest", "hist_gradient_boosting"]
    assert document["hyperparameters"]["params.max_depth"] == [2, None]
    assert "run.data_sha256" not in document["differ"]  # the same file: the same data
    assert len(document["run"]["data_sha256"][0]) == 64 and document["run"]["rows"][0]["test"] > 0
    table = run("runs", "compare", first, second)
    assert "params.max_depth" in table.output and "random_forest" in table.output
    shown = json.loads(run("runs", "show", first).output)
    assert shown["config"]["model"]["params"] == {"max_depth": 2} and shown["rows"]["test"] > 0


def test_wrong_run_ids_and_filters_are_one_line_errors(run):
    missing = run("runs", "show", "r-404")
    assert missing.exit_code == 1 and "no run r-404 of bc" in missing.output
    assert "--model" in missing.output
    assert run("runs", "compare", "only-one").exit_code == ExitCode.USAGE
    bad_status = run("runs", "list", "--status", "done")
    assert bad_status.exit_code == ExitCode.USAGE and "registered" in bad_status.output
    assert run("runs", "list", "--since", "yesterday").exit_code == ExitCode.USAGE


def test_a_run_that_fails_in_a_step_ends_as_an_error_with_the_cause(
    backend, csv_bytes, monkeypatch
):
    PipelineSteps(backend).save_config(TrainingConfig(model_name=MODEL, target=TARGET))

    def broken(*args, **kwargs):
        raise RuntimeError("the training step ran out of disk")

    monkeypatch.setattr(PipelineSteps, "train", broken)
    backend.data.put("incoming/a.csv", csv_bytes)
    result = LocalPipeline(backend).run(MODEL, "incoming/a.csv", run_id="r-broken")
    assert result.status == "failed"
    recorded = backend.registry.get_run(MODEL, "r-broken")
    assert recorded.status == "error" and recorded.ended_at
    assert recorded.reason == "RuntimeError: the training step ran out of disk"
    assert recorded.data_sha256  # what validation learned stays
