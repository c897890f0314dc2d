"""A regression model through the pipeline, the API, feedback and the monitor (local backend):
`value` per record, numeric truth in feedback, live RMSE/MAE and the predictions' drift."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from mlops_template.core.monitoring import run_monitor
from mlops_template.core.pipeline import LocalPipeline, PipelineSteps
from mlops_template.core.serving.app import create_app
from mlops_template.core.serving.router import ModelRouter
from mlops_template.training.config import TrainingConfig
from mlops_template.training.datasets import REGRESSION_TARGET, diabetes_frame, to_csv_bytes

MODEL = "diabetes"


@pytest.fixture
def served(backend):
    frame = diabetes_frame()
    PipelineSteps(backend).save_config(
        TrainingConfig(model_name=MODEL, target=REGRESSION_TARGET, prediction_interval=0.8)
    )
    backend.data.put("incoming/d.csv", to_csv_bytes(frame))
    result = LocalPipeline(backend).run(MODEL, "incoming/d.csv", auto_promote="production")
    assert result.status == "registered", result
    router = ModelRouter(
        backend.registry, backend.artifacts, MODEL, "production", refresh_seconds=0
    )
    client = TestClient(
        create_app(router, predictions=backend.predictions, metrics=backend.metrics)
    )
    return client, frame


def test_predict_answers_a_value_and_an_interval_per_record(served, backend):
    client, frame = served
    features = [c for c in frame.columns if c != REGRESSION_TARGET]
    answer = client.post("/predict", json={"records": frame[features].head(3).to_dict("records")})
    assert answer.status_code == 200, answer.text
    predictions = answer.json()["predictions"]
    assert [set(p) for p in predictions] == [{"prediction_id", "value", "interval"}] * 3
    for p in predictions:
        low, high = p["interval"]
        assert low < p["value"] < high
    version = backend.registry.current(MODEL, "production")
    assert version is not None and version.gate["metric"] == "rmse"
    assert {"rmse", "mae", "r2", "mape"} <= set(version.metrics)


def test_feedback_takes_the_true_number_and_the_monitor_reports_rmse_mae_and_drift(served, backend):
    client, frame = served
    features = [c for c in frame.columns if c != REGRESSION_TARGET]
    live = frame.tail(60).copy()
    live["bmi"] = live["bmi"] * 1.4  # heavier patients: higher predictions
    answer = client.post("/predict", json={"records": live[features].to_dict("records")})
    predictions = answer.json()["predictions"]
    for p, truth in zip(predictions, live[REGRESSION_TARGET], strict=True):
        sent = client.post("/feedback", json={"prediction_id": p["prediction_id"], "label": truth})
        assert sent.status_code == 202, sent.text
    refused = client.post(
        "/feedback", json={"prediction_id": predictions[0]["prediction_id"], "label": "high"}
    )
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "label"]

    result = run_monitor(backend, MODEL)
    values = np.array([p["value"] for p in predictions])
    errors = values - live[REGRESSION_TARGET].to_numpy()
    assert result.feedback_count == 60 and result.feedback_accuracy is None
    assert result.feedback_rmse == pytest.approx(np.sqrt(np.mean(errors**2)), rel=1e-6)
    assert result.feedback_mae == pytest.approx(np.mean(np.abs(errors)), rel=1e-6)
    assert result.prediction_drift is not None and result.prediction_drift.drifted
    published = {str(point["name"]) for point in backend.metrics.read()}
    assert {"FeedbackRMSE", "FeedbackMAE", "PredictionDriftPSI"} <= published


def test_batch_scoring_writes_the_values_predict_answers(served, run, tmp_path):
    import pandas as pd

    client, frame = served
    features = [c for c in frame.columns if c != REGRESSION_TARGET]
    sample = frame[features].head(25)
    data = tmp_path / "score.csv"
    sample.to_csv(data, index=False)
    out = tmp_path / "scored.csv"
    result = run("predict", "--model", MODEL, "--data", str(data), "--out", str(out))
    assert result.exit_code == 0, result.output
    scored = pd.read_csv(out)
    assert {"value", "interval_low", "interval_high"} <= set(scored.columns)
    assert "label" not in scored.columns
    answer = client.post("/predict", json={"records": sample.to_dict("records")}).json()
    np.testing.assert_allclose(scored["value"], [p["value"] for p in answer["predictions"]])


def test_an_abtest_on_a_regression_model_is_refused_with_the_reason(served, backend):
    from mlops_template.core.abtest import NoAbTest, start_abtest

    # A second version to put in canary, whatever it scores against v1.
    PipelineSteps(backend).save_config(
        TrainingConfig(
            model_name=MODEL,
            target=REGRESSION_TARGET,
            gate={"min_lift_over_baseline": 0.0, "max_regression": 10.0},
        )
    )
    backend.data.put("incoming/d2.csv", to_csv_bytes(diabetes_frame().head(400)))
    second = LocalPipeline(backend).run(MODEL, "incoming/d2.csv")
    assert second.version is not None, second
    backend.registry.promote(MODEL, second.version, "canary", actor="test", weight=0.1)
    with pytest.raises(NoAbTest, match="regression model"):
        start_abtest(backend, MODEL)
