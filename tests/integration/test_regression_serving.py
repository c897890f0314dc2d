"""A regression model through the pipeline, the API, feedback and the monitor (local backend):
`value` per record, numeric truth in feedback, live RMSE/MAE and the predictions' drift, and an
A/B test of a canary decided on the mean error per request."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient

from mlops_template.core.abtest import abtest_key
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


@pytest.fixture
def canary(served, backend):
    """Production v1 and a second version of the regression in canary."""
    PipelineSteps(backend).save_config(
        TrainingConfig(
            model_name=MODEL,
            target=REGRESSION_TARGET,
            gate={"min_lift_over_baseline": 0.0, "max_regression": 10.0},
        )
    )
    backend.data.put("incoming/d2.csv", to_csv_bytes(diabetes_frame().head(400)))
    second = LocalPipeline(backend).run(MODEL, "incoming/d2.csv")
    assert second.version == 2, second
    backend.registry.promote(MODEL, 2, "canary", actor="test", weight=0.5)
    return backend


def _capture_errors(backend, version: int, stage: str, errors: np.ndarray, prefix: str) -> None:
    """Served values with their true numbers from feedback, `errors` apart, in time order
    (a microsecond apart, from the test's start: all within its window by the time it is read)."""
    from datetime import datetime, timedelta

    from mlops_template.core.records import PredictionRecord

    started = datetime.fromisoformat(
        json.loads(backend.artifacts.get(abtest_key(MODEL)))["started_at"]
    )
    records = [
        PredictionRecord(
            prediction_id=f"{prefix}{i:04d}",
            model=MODEL,
            version=version,
            stage=stage,
            at=(started + timedelta(microseconds=i + 1)).isoformat(),
            features={},
            value=150.0 + e,
        )
        for i, e in enumerate(errors)
    ]
    backend.predictions.record(records)
    for record in records:
        backend.predictions.add_feedback(record.prediction_id, "150.0", model=MODEL)


def test_an_abtest_of_a_regression_decides_on_the_mean_squared_error(canary, run):
    started = run("abtest", "start", "--model", MODEL, "--mde", "0.3", "--look-every", "100")
    assert started.exit_code == 0, started.output
    plan = json.loads(canary.artifacts.get(abtest_key(MODEL)))
    assert plan["metric"] == "squared_error" and plan["cv"] == pytest.approx(np.sqrt(2))
    # Production's recorded RMSE squared is the control's expected mean squared error.
    production = canary.registry.get(MODEL, 1)
    assert plan["baseline"] == pytest.approx(production.metrics["rmse"] ** 2)
    # Per arm for one look: z^2 cv^2 (1 + (1 - mde)^2) / mde^2 at alpha 0.05, power 0.9.
    z = 1.959964 + 1.281552
    assert plan["fixed_n"] == int(np.ceil(z * z * 2 * (1 + 0.7**2) / 0.3**2))

    rng = np.random.default_rng(0)
    control, experiment = rng.normal(0, 10, 400), rng.normal(0, 7, 400)  # MSE 100 vs 49
    _capture_errors(canary, 1, "production", control, "c")
    _capture_errors(canary, 2, "canary", experiment, "e")
    shown = run("abtest", "status", "--model", MODEL, "--json")
    assert shown.exit_code == 0, shown.output
    status = json.loads(shown.output)
    assert status["decision"] == "promote"
    look = status["looks"][-1]
    n = look["n"]
    mse_c, mse_e = np.mean(control[:n] ** 2), np.mean(experiment[:n] ** 2)
    assert look["control_rate"] == pytest.approx(mse_c)
    assert look["difference"] == pytest.approx(mse_e - mse_c)
    se = np.sqrt(np.var(control[:n] ** 2) / n + np.var(experiment[:n] ** 2) / n)
    assert look["standard_error"] == pytest.approx(se)
    # Lower is better: the canary's error is lower by more than the band around the difference.
    assert look["ci_high"] < 0 and look["z"] <= -look["bound"]
    text = run("abtest", "status", "--model", MODEL).output
    assert "mean squared_error" in text and "decision: promote" in text

    decided = run("abtest", "decide", "--model", MODEL, "--apply")
    assert decided.exit_code == 0, decided.output
    assert canary.registry.aliases(MODEL)["production"].version == 2


def test_a_regression_canary_with_larger_absolute_errors_is_rolled_back(canary, run):
    assert (
        run(
            "abtest",
            "start",
            "--model",
            MODEL,
            "--metric",
            "absolute_error",
            "--mde",
            "0.3",
            "--look-every",
            "100",
        ).exit_code
        == 0
    )
    rng = np.random.default_rng(1)
    control, experiment = rng.normal(0, 7, 400), rng.normal(0, 10, 400)
    _capture_errors(canary, 1, "production", control, "c")
    _capture_errors(canary, 2, "canary", experiment, "e")
    decided = run("abtest", "decide", "--model", MODEL, "--apply")
    assert decided.exit_code == 0, decided.output
    assert "canary worse" in decided.output and "canary v2 retired" in decided.output
    status_reason = canary.registry.history(MODEL, "canary")[-1].reason
    assert "mean absolute_error difference +" in status_reason
    aliases = canary.registry.aliases(MODEL)
    assert aliases["production"].version == 1 and aliases["canary"].version == 1


def test_a_rate_metric_on_a_regression_is_refused_with_the_metrics_that_fit(canary, run):
    refused = run("abtest", "start", "--model", MODEL, "--metric", "accuracy")
    assert refused.exit_code == 2
    assert "squared_error or absolute_error" in refused.output
