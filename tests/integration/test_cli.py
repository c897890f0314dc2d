"""The `mlops` commands a person runs, against the local backend in a temporary MLOPS_HOME."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from infra.cli import app
from infra.settings import get_settings


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLOPS_MODEL_NAME", "bc")
    get_settings.cache_clear()
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args), catch_exceptions=False)

    return invoke


@pytest.fixture
def data_file(tmp_path, csv_bytes):
    path = tmp_path / "data.csv"
    path.write_bytes(csv_bytes)
    return path


def test_train_registers_a_version_and_registry_lists_it(run, data_file):
    result = run("train", "--data", str(data_file), "--target", "diagnosis", "--promote", "staging")
    assert result.exit_code == 0, result.output
    assert "registered v1" in result.output and "promoted to staging" in result.output
    listing = run("registry", "list")
    assert "v1" in listing.output and "staging" in listing.output
    shown = run("registry", "show", "1")
    record = json.loads(shown.output)
    assert record["version"] == 1 and set(record["artifacts"]) >= {"model.onnx", "schema.json"}


def test_promote_and_rollback_report_clear_errors(run, data_file):
    run("train", "--data", str(data_file), "--target", "diagnosis")
    assert run("promote", "1", "--to", "production").exit_code == 0
    stale = run("promote", "1", "--to", "production", "--expect-version", "3")
    assert stale.exit_code == 1 and "moved since you read it" in stale.output
    missing = run("promote", "9", "--to", "staging")
    assert missing.exit_code == 1 and "v9 is not registered" in missing.output
    refused = run("rollback", "--stage", "production")
    assert refused.exit_code == 1 and "no previous version" in refused.output
    history = run("registry", "history")
    assert "production" in history.output


def test_validate_exits_1_on_a_bad_file_and_names_the_problem(run, tmp_path, data_file, csv_bytes):
    schema_path = tmp_path / "schema.json"
    assert (
        run(
            "schema",
            "infer",
            str(data_file),
            "--target",
            "diagnosis",
            "--out",
            str(schema_path),
            "--save",
        ).exit_code
        == 0
    )
    assert run("validate", str(data_file)).exit_code == 0
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes.replace(b"diagnosis", b"label"))
    result = run("validate", str(bad), "--schema", str(schema_path), "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert {i["check"] for i in report["issues"]} == {"missing_column", "unexpected_column"}


def test_schema_infer_says_which_columns_it_left_out(run, tmp_path, customers_csv):
    data = tmp_path / "customers.csv"
    data.write_bytes(customers_csv)
    out = tmp_path / "schema.json"
    result = run("schema", "infer", str(data), "--target", "diagnosis", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "30 features" in result.output
    assert "excluded customer_id: identifier" in result.output
    assert "excluded source: constant" in result.output
    excluded = json.loads(out.read_text())["excluded_columns"]
    assert [c["name"] for c in excluded] == ["customer_id", "source"]
    assert run("validate", str(data), "--schema", str(out)).exit_code == 0


def test_validate_without_a_schema_says_how_to_get_one(run, data_file):
    result = run("validate", str(data_file))
    assert result.exit_code == 1 and "mlops schema infer" in result.output


def test_a_bad_config_file_is_reported_not_raised(run, tmp_path, data_file):
    config = tmp_path / "c.toml"
    config.write_text('[model]\nalgorithm = "svm"\n')
    result = run("train", "--data", str(data_file), "--config", str(config))
    assert result.exit_code == 1 and "model.algorithm" in result.output


def test_monitor_reports_drift_for_the_served_version(run, data_file):
    run("train", "--data", str(data_file), "--target", "diagnosis", "--promote", "production")
    result = run("monitor")
    assert result.exit_code == 0 and "0 captured" in result.output
