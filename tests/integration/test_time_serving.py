"""A forecasting model with a date column through the pipeline, the API and the CLI (local
backend): /predict takes the date as text and derives the same calendar features training did,
a malformed date is a 422 naming the field, the gate compares on the most recent rows, and
`mlops backtest` prints a metric per fold."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from mlops_template.core.artifacts import read_verified
from mlops_template.core.pipeline import LocalPipeline, PipelineSteps
from mlops_template.core.serving.app import create_app
from mlops_template.core.serving.router import ModelRouter
from mlops_template.training.config import TrainingConfig
from mlops_template.training.datasets import DEMAND_TARGET, daily_demand_frame, to_csv_bytes
from mlops_template.training.features import model_inputs
from mlops_template.training.files import HOLDOUT_FILE
from mlops_template.training.validation import coerce_frame

MODEL = "demand"
CONFIG = TrainingConfig(model_name=MODEL, target=DEMAND_TARGET, time={"column": "date"})


@pytest.fixture
def served(backend):
    PipelineSteps(backend).save_config(CONFIG)
    backend.data.put("incoming/first.csv", to_csv_bytes(daily_demand_frame(days=400)))
    first = LocalPipeline(backend).run(MODEL, "incoming/first.csv", auto_promote="production")
    assert first.status == "registered", first
    router = ModelRouter(
        backend.registry, backend.artifacts, MODEL, "production", refresh_seconds=0
    )
    return TestClient(create_app(router, predictions=backend.predictions)), router


def test_predict_derives_the_features_training_derives_from_the_same_date(served):
    client, router = served
    records = [
        {"date": "2024-03-30", "price": 2.5},  # a Saturday at the season's peak
        {"date": "2024-10-02", "price": 2.5},  # a Wednesday at its trough
    ]
    answer = client.post("/predict", json={"records": records})
    assert answer.status_code == 200, answer.text
    values = [p["value"] for p in answer.json()["predictions"]]
    assert values[0] > values[1] + 40  # the season and the weekend, from the date alone

    loaded = router.route().serving
    validated = [loaded.schema.record_model.model_validate(r) for r in records]
    served_inputs = loaded.regressor.columns_from_objects(validated)
    frame = coerce_frame(pd.DataFrame(records), loaded.schema, with_target=False)
    trained_inputs = model_inputs(frame, loaded.schema)
    names = [name for name, _ in loaded.schema.model_columns]
    assert list(trained_inputs.columns) == names
    for name, served_column in zip(names, served_inputs, strict=True):
        np.testing.assert_array_equal(
            served_column, trained_inputs[name].to_numpy(np.float32), err_msg=name
        )
    assert values == pytest.approx(loaded.regressor.predict_frame(frame).tolist(), rel=1e-6)


@pytest.mark.parametrize("bad", ["2024-13-01", "next tuesday", 20240101])
def test_a_malformed_date_is_a_422_naming_the_field(served, bad):
    client, _ = served
    answer = client.post("/predict", json={"records": [{"date": bad, "price": 2.5}]})
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"][0]
    assert detail["loc"] == ["body", "records", 0, "date"]


def test_the_gate_compares_candidate_and_production_on_the_most_recent_rows(served, backend):
    grown = daily_demand_frame(days=730)  # the first 400 days again, and 330 new ones
    backend.data.put("incoming/grown.csv", to_csv_bytes(grown))
    result = LocalPipeline(backend).run(MODEL, "incoming/grown.csv")
    assert result.status == "registered", result
    candidate = backend.registry.get(MODEL, 2)
    holdout = pd.read_csv(
        io.BytesIO(read_verified(backend.artifacts, candidate.artifacts[HOLDOUT_FILE]))
    )
    newest = sorted(grown["date"])[-146:]
    assert sorted(holdout["date"]) == newest
    # Production (trained on days before 2023-02-05) is scored on every one of those rows.
    assert candidate.gate["production_version"] == 1
    assert candidate.gate["production_rows"] == len(newest) == 146


def test_mlops_backtest_prints_the_metric_per_fold(run, tmp_path):
    data = tmp_path / "demand.csv"
    data.write_bytes(to_csv_bytes(daily_demand_frame(days=730)))
    config = tmp_path / "config.toml"
    config.write_text('target = "demand"\n\n[time]\ncolumn = "date"\n')
    result = run("backtest", "--data", str(data), "--config", str(config), "--folds", "3")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    folds = [line for line in lines if line.startswith("│ ") and line[2].isdigit()]
    assert [line.split("│")[1].strip() for line in folds] == ["1", "2", "3"]
    assert "rmse over 3 folds" in result.output
    # fold | train rows | test rows | from | to | rmse | baseline: a number per fold.
    values = [float(line.split("│")[6]) for line in folds]
    assert all(v > 0 for v in values)
    assert any("mean" in line for line in lines) and any("spread" in line for line in lines)


def test_mlops_backtest_without_a_time_column_is_a_usage_error(run, tmp_path):
    data = tmp_path / "demand.csv"
    data.write_bytes(to_csv_bytes(daily_demand_frame(days=60)))
    config = tmp_path / "config.toml"
    config.write_text('target = "demand"\n')
    result = run("backtest", "--data", str(data), "--config", str(config))
    assert result.exit_code == 2 and "time.column" in result.output


@pytest.mark.usefixtures("served")
@pytest.mark.parametrize("kind", ["date32", "timestamp"])
def test_a_parquet_date_column_is_batch_scored_as_the_same_csv_text(run, tmp_path, kind):
    """Parquet keeps dates typed (a date32 or a timestamp column, not text): batch scoring
    reads them as the ISO 8601 text /predict takes, so both files score the same."""
    rows = daily_demand_frame(days=60, seed=3, start="2024-02-01").drop(columns=[DEMAND_TARGET])
    csv, parquet = tmp_path / "in.csv", tmp_path / "in.parquet"
    csv.write_bytes(to_csv_bytes(rows))
    typed = rows.assign(date=pd.to_datetime(rows["date"]))
    if kind == "date32":
        typed["date"] = typed["date"].dt.date
    typed.to_parquet(parquet, index=False)
    outputs = []
    for source in (csv, parquet):
        out = tmp_path / f"out-{source.suffix[1:]}.csv"
        result = run("predict", "--data", str(source), "--out", str(out), "--model", MODEL)
        assert result.exit_code == 0, result.output
        assert "60 rows, 60 scored, 0 rejected" in result.output
        outputs.append(pd.read_csv(out)["value"].to_numpy())
    np.testing.assert_allclose(outputs[1], outputs[0], rtol=1e-6)
