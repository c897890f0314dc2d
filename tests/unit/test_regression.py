"""Regression: the task inferred from the target, its metrics and baseline, a gate that knows
lower RMSE is better, the ONNX export's parity and the conformal interval's coverage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlops_template.training import conformal
from mlops_template.training.config import ConfigError, GateConfig, TrainingConfig
from mlops_template.training.datasets import REGRESSION_TARGET, diabetes_frame
from mlops_template.training.evaluate import baseline_metrics, regression_metrics
from mlops_template.training.gate import evaluate_gate
from mlops_template.training.onnx_model import OnnxRegressor
from mlops_template.training.schema import SchemaError, infer_schema, infer_task
from mlops_template.training.train import train
from mlops_template.training.validation import validate_csv


@pytest.fixture(scope="module")
def diabetes() -> pd.DataFrame:
    return diabetes_frame()


def test_a_numeric_target_with_many_values_is_regression_and_a_few_codes_are_classes():
    rng = np.random.default_rng(0)
    assert infer_task(pd.Series(rng.normal(size=200))) == "regression"
    assert infer_task(pd.Series(rng.integers(0, 3, size=200))) == "classification"
    assert infer_task(pd.Series(["a", "b"] * 50)) == "classification"
    assert infer_task(pd.Series([True, False] * 50)) == "classification"


def test_the_schema_records_the_inferred_task_and_the_override_wins(diabetes):
    schema = infer_schema(diabetes, REGRESSION_TARGET)
    assert schema.target.task == "regression"
    assert schema.target.classes == []
    assert schema.target.min == diabetes[REGRESSION_TARGET].min()
    forced = infer_schema(diabetes.assign(y=diabetes["sex"]), "y", task="regression")
    assert forced.target.task == "regression"
    as_classes = infer_schema(diabetes, "sex", task="classification")
    assert as_classes.target.classes == ["1.0", "2.0"]
    with pytest.raises(SchemaError, match="must be numeric"):
        infer_schema(diabetes.assign(y=["a", "b"] * 221), "y", task="regression")


def test_regression_metrics_on_known_values():
    metrics = regression_metrics([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 8.0])
    assert metrics["rmse"] == pytest.approx(2.0)
    assert metrics["mae"] == pytest.approx(1.0)
    assert metrics["r2"] == pytest.approx(1 - 16 / 5)
    assert metrics["mape"] == pytest.approx(0.25)
    assert "mape" not in regression_metrics([0.0, 1.0], [0.5, 1.0])  # a true 0: no MAPE


def test_the_baseline_predicts_the_training_mean_and_the_median_for_mae(diabetes):
    target = infer_schema(diabetes, REGRESSION_TARGET).target
    y_train, y_test = [0.0, 0.0, 0.0, 10.0], [1.0, 3.0]
    base = baseline_metrics(y_train, y_test, target)
    mean = 2.5
    assert base["rmse"] == pytest.approx(np.sqrt(((1 - mean) ** 2 + (3 - mean) ** 2) / 2))
    assert base["mae"] == pytest.approx((1 + 3) / 2)  # the median, 0, is 1 and 3 away


def test_the_regression_gate_refuses_worse_than_the_mean_and_worse_than_production():
    gate = GateConfig()
    baseline = {"rmse": 80.0, "mae": 68.0, "r2": 0.0}
    good = {"rmse": 55.0, "mae": 43.0, "r2": 0.5}
    passed = evaluate_gate(gate, good, baseline, task="regression")
    assert passed.passed and passed.metric == "rmse"
    # Worse than predicting the training mean (a higher RMSE): a higher number is no lift.
    worse_than_mean = evaluate_gate(gate, {**good, "rmse": 85.0}, baseline, task="regression")
    assert not worse_than_mean.passed
    assert "beats the baseline" in worse_than_mean.reasons[0]
    # Within 5% of the baseline's RMSE: not enough lift (the margin is relative for RMSE).
    assert not evaluate_gate(gate, {**good, "rmse": 77.0}, baseline, task="regression").passed
    # Worse than production by more than 1%: refused; by less: passes.
    production = {"rmse": 50.0, "mae": 40.0, "r2": 0.6}
    worse = evaluate_gate(gate, good, baseline, production, production_version=3, task="regression")
    assert not worse.passed and "worse than production v3" in worse.reasons[0]
    close = evaluate_gate(gate, {**good, "rmse": 50.4}, baseline, production, task="regression")
    assert close.passed
    # R² is higher-is-better: the same gate reads it the other way round.
    r2 = GateConfig(metric="r2", min_lift_over_baseline=0.1)
    assert evaluate_gate(r2, good, baseline, task="regression").passed
    assert not evaluate_gate(r2, {**good, "r2": -0.1}, baseline, task="regression").passed


def test_a_metric_of_the_other_task_is_a_config_error():
    with pytest.raises(ConfigError, match="classification metric"):
        GateConfig(metric="roc_auc").metric_for("regression")
    assert GateConfig().metric_for("classification") == "roc_auc"


@pytest.fixture(scope="module")
def diabetes_run(diabetes):
    schema = infer_schema(diabetes, REGRESSION_TARGET)
    report, typed = validate_csv(diabetes.to_csv(index=False).encode(), schema)
    assert report.passed and typed is not None
    config = TrainingConfig(
        model_name="diabetes", target=REGRESSION_TARGET, prediction_interval=0.9
    )
    return train(typed, schema, config, data_sha256="test"), typed


def test_a_regression_trains_beats_the_mean_and_exports_a_faithful_graph(diabetes_run):
    run, typed = diabetes_run
    assert run.manifest.task == "regression"
    assert run.manifest.metrics["rmse"] < run.manifest.baseline_metrics["rmse"]
    assert run.manifest.parity_error < 1e-4
    model = OnnxRegressor(run.onnx_bytes, run.schema)
    values = model.predict_frame(typed)
    expected = run.pipeline.predict(typed[run.schema.feature_names])
    np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-4)


def test_a_regression_file_with_a_text_target_fails_validation(diabetes, diabetes_run):
    run, _ = diabetes_run
    bad = diabetes.astype({REGRESSION_TARGET: object})
    bad.loc[3, REGRESSION_TARGET] = "high"
    report, typed = validate_csv(bad.to_csv(index=False).encode(), run.schema)
    assert typed is None
    assert [i.check for i in report.issues if i.severity == "error"] == ["invalid_target"]


def test_split_conformal_intervals_hold_the_truth_as_often_as_promised():
    """Coverage measured on rows the calibration never saw, over many draws: at least the
    promised 90% on average (the guarantee is marginal), and not wildly more."""
    rng = np.random.default_rng(7)
    covered = []
    for _ in range(200):
        x = rng.uniform(-3, 3, size=600)
        y = np.sin(x) * 10 + rng.standard_t(df=3, size=600)  # heavy tails: no normal shortcut
        predicted = np.sin(x) * 10
        width = conformal.half_width(y[:100], predicted[:100], 0.9)
        covered.append(np.mean(np.abs(y[100:] - predicted[100:]) <= width))
    assert 0.9 <= np.mean(covered) <= 0.93


def test_the_exported_model_carries_its_interval(diabetes_run):
    run, typed = diabetes_run
    model = OnnxRegressor(run.onnx_bytes, run.schema)
    assert model.interval_coverage == 0.9
    assert model.interval_half_width is not None and model.interval_half_width > 0
    intervals = model.intervals(model.predict_frame(typed.head(3)))
    assert intervals is not None and np.all(intervals[:, 0] < intervals[:, 1])


def test_too_few_held_out_rows_for_the_coverage_is_refused():
    with pytest.raises(ValueError, match="too few"):
        conformal.half_width([1.0] * 5, [1.0] * 5, 0.9)
