"""The `mlops` commands a person runs, against the local backend in a temporary MLOPS_HOME."""

from __future__ import annotations

import json
import re
import shlex
import sys

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from mlops_template.tooling.cli import ExitCode, app


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


def test_validate_exits_3_on_a_bad_file_and_names_the_problem(run, tmp_path, data_file, csv_bytes):
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
    assert result.exit_code == ExitCode.DATA_REJECTED
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


# -- settings precedence: option, then environment, then config file, then default -------------


def test_the_environment_model_name_beats_the_config_file(run, tmp_path, data_file):
    config = tmp_path / "c.toml"
    config.write_text('target = "diagnosis"\n')  # no model_name: MLOPS_MODEL_NAME=bc decides
    result = run("train", "--data", str(data_file), "--config", str(config))
    assert result.exit_code == 0, result.output
    assert "v1" in run("registry", "list", "--model", "bc").output
    assert "no versions of 'model'" in run("registry", "list", "--model", "model").output


def test_the_model_option_beats_the_environment_and_the_config_file(run, tmp_path, data_file):
    config = tmp_path / "c.toml"
    config.write_text('model_name = "from-file"\ntarget = "diagnosis"\n')
    result = run("train", "--data", str(data_file), "--config", str(config), "-m", "opt")
    assert result.exit_code == 0, result.output
    assert "v1" in run("registry", "list", "--model", "opt").output


def test_the_config_file_model_name_applies_without_option_or_environment(
    run, tmp_path, data_file, monkeypatch
):
    monkeypatch.delenv("MLOPS_MODEL_NAME")
    config = tmp_path / "c.toml"
    config.write_text('model_name = "from-file"\ntarget = "diagnosis"\n')
    assert run("train", "--data", str(data_file), "--config", str(config)).exit_code == 0
    assert "v1" in run("registry", "list", "--model", "from-file").output
    # validate reads the same config, so it finds that model's stored schema
    assert run("validate", str(data_file), "--config", str(config)).exit_code == 0


def test_train_without_config_keeps_the_stored_one_and_a_new_one_is_a_recorded_change(
    run, tmp_path, data_file
):
    strict = tmp_path / "strict.toml"
    strict.write_text(
        'target = "diagnosis"\n[model]\nalgorithm = "logistic_regression"\n'
        "[validation]\nmax_missing_ratio = 0.0\n[gate]\nmin_lift_over_baseline = 0.3\n"
    )
    assert run("train", "--data", str(data_file), "--config", str(strict)).exit_code == 0
    plain = run("train", "--data", str(data_file))
    assert plain.exit_code == 0, plain.output
    assert "config changed" not in plain.output
    used = json.loads(run("registry", "show", "2").output)["config"]
    assert used["model"]["algorithm"] == "logistic_regression"
    assert used["validation"]["max_missing_ratio"] == 0.0
    assert used["gate"]["min_lift_over_baseline"] == 0.3
    loose = tmp_path / "loose.toml"
    loose.write_text('target = "diagnosis"\n')
    changed = run("train", "--data", str(data_file), "--config", str(loose))
    assert "config changed: model.algorithm: 'logistic_regression' -> " in changed.output
    assert "config changed: gate.min_lift_over_baseline: 0.3 -> 0.05" in changed.output
    history = run("config", "history").output.splitlines()
    assert len(history) == 2 and "first stored" in history[0]
    assert "validation.max_missing_ratio: 0.0 -> 0.05" in history[1]


def test_an_export_edited_by_hand_is_not_imported_and_an_intact_one_is(run, tmp_path, data_file):
    from tests.aws.test_promotion import forge

    assert run("train", "--data", str(data_file), "--target", "diagnosis").exit_code == 0
    bundle = tmp_path / "bundle"
    assert run("registry", "export", "1", "--out", str(bundle)).exit_code == 0
    intact = {path.name: path.read_bytes() for path in bundle.iterdir()}
    forge(bundle, b"another model")
    refused = run("registry", "import", str(bundle), "--source-env", "dev")
    assert refused.exit_code == 1 and "changed after export" in refused.output, refused.output
    assert "v2" not in run("registry", "list").output
    for name, data in intact.items():
        (bundle / name).write_bytes(data)
    imported = run("registry", "import", str(bundle), "--source-env", "dev")
    assert imported.exit_code == 0 and "imported as bc v2" in imported.output, imported.output


def test_help_states_the_precedence_and_the_exit_codes(run):
    text = " ".join(run("--help").output.split())
    assert "option, else its MLOPS_* environment variable, else the --config file" in text
    assert "4 the gate refused the model" in text


# -- exit codes ----------------------------------------------------------------------------------


def test_train_exits_4_when_the_gate_refuses_the_model(run, tmp_path):
    rng = np.random.default_rng(0)
    noise = pd.DataFrame(rng.normal(size=(400, 5)), columns=[f"x{i}" for i in range(5)])
    noise["y"] = rng.integers(0, 2, len(noise))  # labels with no signal: no lift over baseline
    path = tmp_path / "noise.csv"
    noise.to_csv(path, index=False)
    result = run("train", "--data", str(path), "--target", "y")
    assert result.exit_code == ExitCode.GATE_FAILED == 4, result.output
    assert "gate failed, nothing registered" in result.output


def test_train_exits_3_when_the_data_is_rejected(run, tmp_path, data_file, csv_bytes):
    assert run("train", "--data", str(data_file), "--target", "diagnosis").exit_code == 0
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes.replace(b"diagnosis", b"label"))
    result = run("train", "--data", str(bad))
    assert result.exit_code == ExitCode.DATA_REJECTED == 3, result.output
    assert "quarantined" in result.output
    assert run("validate", str(bad)).exit_code == ExitCode.DATA_REJECTED


def test_two_files_of_one_name_ingested_at_once_are_each_judged_on_their_own(
    run, tmp_path, data_file, csv_bytes, monkeypatch
):
    """A second `data.csv` lands after the first was uploaded, before its pipeline took it."""
    from mlops_template.core.pipeline import PipelineSteps

    assert run("schema", "infer", str(data_file), "--target", "diagnosis", "--save").exit_code == 0
    other = tmp_path / "elsewhere" / "data.csv"
    other.parent.mkdir()
    other.write_bytes(csv_bytes.replace(b"diagnosis", b"label"))
    validate = PipelineSteps.validate
    second: list = []

    def second_ingest_lands_first(self, *args, **kwargs):
        if not second:
            second.append("running")
            second[0] = run("pipeline", "start", "--data", str(other))
        return validate(self, *args, **kwargs)

    monkeypatch.setattr(PipelineSteps, "validate", second_ingest_lands_first)
    first = run("train", "--data", str(data_file), "--target", "diagnosis")
    assert second[0].exit_code == ExitCode.DATA_REJECTED, second[0].output
    assert first.exit_code == 0 and "registered v1" in first.output, first.output


def test_validate_hints_a_command_that_stores_the_schema(run, data_file):
    refused = run("validate", str(data_file))
    assert refused.exit_code == ExitCode.ERROR
    hint = re.search(r"run `(mlops schema infer [^`]+)`", " ".join(refused.output.split()))
    assert hint, refused.output
    args = shlex.split(hint.group(1).replace("TARGET_COLUMN", "diagnosis"))[1:]
    assert run(*args).exit_code == 0
    assert run("validate", str(data_file)).exit_code == 0


def test_monitor_with_too_few_rows_gives_no_drift_verdict(run, data_file, frame):
    from fastapi.testclient import TestClient

    from mlops_template.core.serving.app import app_from_settings
    from mlops_template.core.settings import Settings
    from mlops_template.infra import build_backend

    run("train", "--data", str(data_file), "--target", "diagnosis", "--promote", "production")
    settings = Settings()
    api = TestClient(app_from_settings(settings, build_backend(settings)))
    records = frame.drop(columns=["diagnosis"]).head(5).to_dict(orient="records")
    assert api.post("/predict", json={"records": records}).status_code == 200
    result = run("monitor")
    text = " ".join(result.output.split())
    assert result.exit_code == 0 and "5 captured" in text
    assert "too few rows to judge: 5 live, drift.min_rows is 30" in text
    assert "no drift" not in text


@pytest.mark.parametrize("command", [["demo", "--aws-emulated"], ["release", "--aws-emulated"]])
def test_aws_emulated_without_moto_says_which_extra_to_install(run, monkeypatch, command):
    monkeypatch.setitem(sys.modules, "moto", None)  # what an install without the dev extras has
    result = CliRunner().invoke(app, command)
    assert result.exit_code == ExitCode.ERROR
    assert "pip install '.[dev]'" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_no_message_says_vnone(run, data_file):
    run("train", "--data", str(data_file), "--target", "diagnosis")
    stale = run("promote", "1", "--to", "production", "--expect-version", "3")
    assert stale.exit_code == 1 and "serves no version, not v3" in stale.output
    assert "production of bc: no version -> v1" in run("promote", "1", "--to", "production").output


def test_every_option_and_argument_has_help():
    def commands(command, path):
        subcommands = getattr(command, "commands", None)
        if subcommands is None:
            yield path, command
            return
        for name, sub in subcommands.items():
            yield from commands(sub, f"{path} {name}")

    missing = [
        f"{path} {param.name}"
        for path, command in commands(typer.main.get_command(app), "mlops")
        for param in command.params
        if not getattr(param, "help", None)
    ]
    assert missing == []


# -- hostile input -------------------------------------------------------------------------------

MARKUP = "[/oops]"  # Rich reads it as a closing tag that matches nothing


def test_markup_in_column_names_and_reasons_prints_as_itself(run, tmp_path, data_file, csv_bytes):
    assert run("train", "--data", str(data_file), "--target", "diagnosis").exit_code == 0
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes.replace(b"mean_radius", MARKUP.encode()))
    for command in (["validate", str(bad)], ["train", "--data", str(bad)]):
        result = run(*command)
        assert result.exit_code == ExitCode.DATA_REJECTED, result.output
        assert MARKUP in result.output
    assert run("promote", "1", "--to", "staging", "--reason", MARKUP).exit_code == 0
    assert MARKUP in run("registry", "history").output


def test_a_huge_cell_prints_as_an_excerpt(run, tmp_path, data_file, frame):
    assert run("train", "--data", str(data_file), "--target", "diagnosis").exit_code == 0
    poisoned = frame.astype({"mean_radius": object})
    poisoned.loc[3, "mean_radius"] = "x" * 2_000_000
    bad = tmp_path / "bad.csv"
    poisoned.to_csv(bad, index=False)
    table, report = run("validate", str(bad)), run("validate", str(bad), "--json")
    assert table.exit_code == report.exit_code == ExitCode.DATA_REJECTED
    assert len(table.output) < 10_000 and len(report.output) < 10_000
    message = json.loads(report.output)["issues"][0]["message"]
    assert f"{'x' * 80}... (2000000 characters)" in message


def test_a_first_file_too_wide_is_refused_on_its_header(run, tmp_path):
    wide = tmp_path / "wide.csv"
    columns = [f"c{i}" for i in range(3000)]
    wide.write_text(",".join(columns) + "\n" + "\n".join(",".join("1" * 3000) for _ in range(30)))
    result = run("train", "--data", str(wide), "--target", "c0")
    assert result.exit_code == ExitCode.DATA_REJECTED, result.output
    assert "header has 3000 columns, over the limit of 2000" in " ".join(result.output.split())
    refused = run("schema", "infer", str(wide), "--target", "c0")
    assert refused.exit_code == ExitCode.ERROR and "over the limit of 2000" in refused.output


@pytest.mark.parametrize(
    "command",
    [
        ["schema", "infer", "DATA", "--target", "diagnosis", "--save"],
        ["train", "--data", "DATA", "--target", "diagnosis"],
        ["pipeline", "start", "--data", "DATA"],
        ["validate", "DATA"],
        ["registry", "list"],
        ["promote", "1", "--to", "staging"],
    ],
)
def test_every_command_refuses_a_bad_model_name_in_one_message(run, tmp_path, data_file, command):
    result = run(*(str(data_file) if arg == "DATA" else arg for arg in command), "--model", "a/b/c")
    assert result.exit_code == 2, result.output
    assert "invalid model name 'a/b/c'" in " ".join(result.output.split())
    assert len(result.output.splitlines()) <= 6
    assert not (tmp_path / "home").exists()  # nothing stored under any name


def test_a_bad_model_name_in_the_environment_is_one_line(run, monkeypatch):
    monkeypatch.setenv("MLOPS_MODEL_NAME", "a/b/c")
    result = run("registry", "list")
    assert result.exit_code == ExitCode.ERROR
    assert " ".join(result.output.split()).startswith(
        "error: MLOPS_MODEL_NAME: invalid model name 'a/b/c'"
    )


def test_a_target_other_than_the_contracts_is_refused_and_recorded_nowhere(run, data_file):
    assert run("train", "--data", str(data_file), "--target", "diagnosis").exit_code == 0
    other = run("train", "--data", str(data_file), "--target", "mean_radius")
    assert other.exit_code == ExitCode.USAGE
    assert "the target of bc is 'diagnosis'" in " ".join(other.output.split())
    assert json.loads(run("config", "show").output)["target"] == "diagnosis"
    assert run("registry", "show", "2").exit_code == ExitCode.ERROR  # nothing registered


def test_a_run_that_registers_nothing_leaves_the_stored_config_as_it_was(
    run, tmp_path, data_file, csv_bytes
):
    assert run("train", "--data", str(data_file), "--target", "diagnosis").exit_code == 0
    before = json.loads(run("config", "show").output)
    strict = tmp_path / "strict.toml"
    strict.write_text('target = "diagnosis"\n[gate]\nmin_lift_over_baseline = 0.9\n')
    refused = run("train", "--data", str(data_file), "--config", str(strict))
    assert refused.exit_code == ExitCode.GATE_FAILED, refused.output
    assert "config changed back" in refused.output
    assert json.loads(run("config", "show").output) == before
    assert run("train", "--data", str(data_file)).exit_code == 0  # with the stored config


def test_an_unknown_stage_is_a_usage_error(run, data_file):
    run("train", "--data", str(data_file), "--target", "diagnosis")
    assert run("promote", "1", "--to", "prod").exit_code == ExitCode.USAGE
    assert run("rollback", "--stage", "prod").exit_code == ExitCode.USAGE


def test_schema_infer_takes_one_as_the_positive_class_of_0_1_labels(run, tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=200), "y": [0] * 99 + [1] * 101})
    path = tmp_path / "balanced.csv"
    frame.to_csv(path, index=False)
    inferred = json.loads(run("schema", "infer", str(path), "--target", "y").stdout)
    assert inferred["target"]["positive_class"] == "1"  # though it is the majority here
    chosen = run("schema", "infer", str(path), "--target", "y", "--positive-class", "0")
    assert json.loads(chosen.stdout)["target"]["positive_class"] == "0"


def test_a_parquet_file_goes_through_schema_infer_validate_and_train(run, tmp_path, frame):
    data = tmp_path / "data.parquet"
    frame.to_parquet(data, index=False)
    inferred = run("schema", "infer", str(data), "--target", "diagnosis", "--save")
    assert inferred.exit_code == 0, inferred.output
    checked = run("validate", str(data), "--json")
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.output)["rows"] == len(frame)
    trained = run("train", "--data", str(data))
    assert trained.exit_code == 0, trained.output
    assert "registered" in trained.output
