"""The ML Test Score's model tests for a regression, on tables whose truth is known: the lift
over the mean predictor with its bootstrap bound (lower RMSE is better), the simple model
(a ridge regression in the same pipeline), permutation importance in RMSE, slices and groups
(tests/integration/test_regression_assessment.py runs them through the pipeline)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from mlops_template.training.assessment import bootstrap_lift, group_fairness, slice_metrics
from mlops_template.training.config import GateConfig, TrainingConfig
from mlops_template.training.gate import check_fairness, check_slices, evaluate_gate
from mlops_template.training.schema import TargetSchema, infer_schema
from mlops_template.training.train import train
from mlops_template.training.validation import validate_csv

TARGET = TargetSchema(name="y", task="regression")


def _table(seed: int, rows: int = 400, kind: str = "linear") -> pd.DataFrame:
    """x0..x2 carry the signal (linearly, or through an interaction a line cannot fit), x3 is
    noise; `noise`: the target ignores every feature."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, 4)), columns=[f"x{i}" for i in range(4)])
    if kind == "linear":
        y = 3 * frame.x0 - 2 * frame.x1 + frame.x2
    elif kind == "interaction":
        y = 4 * np.sign(frame.x0) * np.sign(frame.x1) + frame.x2
    else:
        y = pd.Series(np.zeros(rows))
    frame["y"] = 50 + y + rng.normal(scale=0.5 if kind != "noise" else 5.0, size=rows)
    return frame


def _train(frame: pd.DataFrame, **config):
    data = frame.to_csv(index=False).encode()
    schema = infer_schema(pd.read_csv(io.BytesIO(data)), "y")
    assert schema.target.task == "regression"
    report, typed = validate_csv(data, schema)
    assert report.passed and typed is not None
    cfg = TrainingConfig.model_validate({"target": "y", **config})
    return train(typed, schema, cfg, data_sha256="x"), cfg


def _gate(run, cfg):
    return evaluate_gate(
        cfg.gate,
        run.manifest.metrics,
        run.manifest.baseline_metrics,
        parity_error=run.manifest.parity_error,
        assessment=run.manifest.assessment,
        task="regression",
    )


# -- the paired bootstrap reads the metric's direction ----------------------------------------


def test_the_bootstrap_lift_of_rmse_is_the_baseline_error_minus_the_candidates_relative():
    rng = np.random.default_rng(0)
    y = rng.normal(10, 2, size=200)
    exact, constant = y.copy(), np.full(200, y.mean())
    better = bootstrap_lift("rmse", y, exact, constant, TARGET, rounds=300, alpha=0.05, seed=0)
    # A perfect model removes all of the baseline's error: a relative lift of exactly 1.
    assert better["point"] == pytest.approx(1.0) and better["lower"] == pytest.approx(1.0)
    near = y + rng.normal(0, 0.5, size=200)
    worse = bootstrap_lift("rmse", y, constant, near, TARGET, rounds=300, alpha=0.05, seed=0)
    assert worse["point"] < 0 and worse["lower"] < worse["point"]
    # Twice the error of the reference on every row: 100% worse, whatever the resample.
    doubled = y + 2 * (constant - y)
    half = bootstrap_lift("mae", y, doubled, constant, TARGET, rounds=300, alpha=0.05, seed=0)
    assert half["point"] == pytest.approx(-1.0) and half["lower"] == pytest.approx(-1.0)
    # R² points the other way (higher is better) and is scale-free: a plain difference.
    r2 = bootstrap_lift("r2", y, exact, constant, TARGET, rounds=300, alpha=0.05, seed=0)
    assert r2["point"] == pytest.approx(1.0)


# -- the gate on trained regressions ----------------------------------------------------------


def test_a_target_no_feature_explains_is_refused_and_a_real_signal_passes():
    noise, cfg = _train(_table(0, kind="noise"), model={"algorithm": "hist_gradient_boosting"})
    refused = _gate(noise, cfg)
    # The boosted trees fit the noise: a higher RMSE than predicting the training mean.
    assert noise.manifest.metrics["rmse"] > noise.manifest.baseline_metrics["rmse"]
    assert not refused.passed
    assert any("beats the baseline" in r for r in refused.reasons)
    assert any("not statistically meaningful" in r for r in refused.reasons)
    assert refused.checks["lift"]["lower"] < 0

    signal, cfg = _train(_table(0), model={"algorithm": "hist_gradient_boosting"})
    passed = _gate(signal, cfg)
    assert passed.passed, passed.reasons
    assert passed.checks["lift"]["lower"] > cfg.gate.min_lift_over_baseline


def test_the_simple_model_rule_fires_when_a_line_matches_the_boosted_model_on_linear_data():
    strict = {"refuse_if_simple_model_wins": True}
    linear, cfg = _train(_table(1), model={"algorithm": "hist_gradient_boosting"}, gate=strict)
    simple = linear.manifest.assessment["simple_model"]
    assert simple["algorithm"] == "linear_regression" and simple["metric"] == "rmse"
    # The ridge regression recovers the line: the boosted model is not worth its complexity.
    assert simple["simple"] < simple["candidate"] and simple["candidate_minus_simple"] < 0
    assert simple["worth_its_complexity"] is False
    gate = _gate(linear, cfg)
    assert not gate.passed
    assert any("not worth its complexity" in r for r in gate.reasons)

    # Where the truth is an interaction no line fits, the trees lead and the rule passes.
    bent, cfg = _train(
        _table(1, kind="interaction"), model={"algorithm": "hist_gradient_boosting"}, gate=strict
    )
    simple = bent.manifest.assessment["simple_model"]
    assert simple["candidate_minus_simple"] > 0.3 and simple["worth_its_complexity"]
    assert _gate(bent, cfg).passed


def test_permutation_importance_is_the_rise_in_rmse_and_finds_the_noise_feature():
    run, _ = _train(_table(2), model={"algorithm": "linear_regression"})
    importance = run.manifest.assessment["importance"]
    assert importance["metric"] == "rmse"
    means = {name: v["mean"] for name, v in importance["features"].items()}
    # Shuffling x0 (coefficient 3) costs more RMSE than x1 (2), more than x2 (1).
    assert means["x0"] > means["x1"] > means["x2"] > 0
    assert importance["useless"] == ["x3"]
    ablation = run.manifest.assessment["ablation"]
    assert ablation["without_useless"]["dropped"] == ["x3"]
    assert ablation["without_useless"]["metric"] == pytest.approx(
        ablation["candidate"]["metric"], rel=0.05
    )


def test_tuning_searches_a_regressor_on_its_metric():
    run, _ = _train(
        _table(3),
        model={"algorithm": "linear_regression"},
        tuning={"search_space": {"alpha": [0.01, 1000.0]}, "method": "halving_grid", "cv": 2},
    )
    tuning = run.manifest.assessment["tuning"]
    assert tuning["metric"] == "rmse"
    assert tuning["best_params"] == {"alpha": 0.01}  # heavy shrinkage loses the line
    assert tuning["best_cv_score"] < 0  # scikit-learn maximises: the RMSE negated


# -- slices and groups: RMSE per slice, under a ceiling, against production -------------------


def _groups() -> tuple[pd.DataFrame, np.ndarray, np.ndarray, TrainingConfig]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"group": ["a"] * 60 + ["b"] * 60, "x": rng.normal(size=120)})
    y = rng.normal(100, 10, size=120)
    # Off by 1 on every row of group a, by 10 on every row of group b.
    predicted = y + np.where(np.arange(120) < 60, 1.0, -10.0) * np.where(np.arange(120) % 2, 1, -1)
    frame["y"] = y
    return frame, y, predicted, TrainingConfig(target="y")


def test_slices_measure_rmse_and_the_floor_is_a_ceiling_for_an_error():
    frame, y, predicted, config = _groups()
    schema = infer_schema(frame, "y")
    slices = slice_metrics(frame, y, predicted, schema, config)
    by_value = {(s["column"], s["value"]): s for s in slices}
    assert by_value[("group", "a")]["candidate"] == pytest.approx(1.0)
    assert by_value[("group", "b")]["candidate"] == pytest.approx(10.0)
    ceiling = GateConfig(slice_floor=5.0, slice_min_rows=30)
    reasons = check_slices(ceiling, slices, "rmse")
    assert len([r for r in reasons if "group=" in r]) == 1
    assert "group=b" in reasons[0] and "over the floor 5.0" in reasons[0]


def test_a_slice_whose_rmse_rises_over_productions_is_refused_relative_to_it():
    def slice_(ours: float) -> list[dict]:
        return [
            {
                "column": "g",
                "value": "b",
                "rows": 50,
                "candidate": ours,
                "compared_rows": 50,
                "candidate_on_compared": ours,
                "production": 10.0,
            }
        ]

    # 10% more error than production: over the 5% allowed; 2% more, or less error: fine.
    assert "trails production" in check_slices(GateConfig(), slice_(11.0), "rmse")[0]
    assert check_slices(GateConfig(), slice_(10.2), "rmse") == []
    assert check_slices(GateConfig(), slice_(8.0), "rmse") == []


def test_groups_report_rmse_and_mae_per_group_and_the_gap():
    frame, y, predicted, _ = _groups()
    schema = infer_schema(frame, "y")
    groups = group_fairness(frame, y, predicted, schema, ["group"])["group"]
    assert groups["by_group"]["a"] == {"rmse": pytest.approx(1.0), "mae": pytest.approx(1.0)}
    assert groups["rmse_difference"] == pytest.approx(9.0)
    # Parity and equalized odds need a positive class: configured, they do not refuse a regression.
    limited = GateConfig(max_demographic_parity_difference=0.1)
    assert check_fairness(limited, {"group": groups}) == []
