"""The ML Test Score's data and model tests held by training and the gate: each mechanism is
shown refusing what it exists to refuse (tests/integration/test_model_tests.py runs them through
the pipeline)."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest

from mlops_template.training.assessment import bootstrap_lift, group_fairness, slice_metrics
from mlops_template.training.config import FeaturePolicy, GateConfig, TrainingConfig
from mlops_template.training.gate import (
    check_fairness,
    check_importance,
    check_simple_model,
    check_slices,
    evaluate_gate,
)
from mlops_template.training.policy import feature_policy_problems
from mlops_template.training.schema import infer_schema
from mlops_template.training.train import train
from mlops_template.training.validation import validate_csv

BASE = {"roc_auc": 0.5}


# -- Defect B: nothing that is not a number passes ------------------------------------------


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_nan_parity_error_is_refused(bad):
    result = evaluate_gate(GateConfig(), {"roc_auc": 0.9}, BASE, parity_error=bad)
    assert not result.passed and "ONNX" in result.reasons[0]


def test_a_nan_metric_is_refused():
    result = evaluate_gate(GateConfig(), {"roc_auc": float("nan")}, BASE)
    assert not result.passed and "not a finite number" in result.reasons[0]


def test_a_nan_production_metric_is_refused_not_ignored():
    result = evaluate_gate(
        GateConfig(), {"roc_auc": 0.9}, BASE, {"roc_auc": float("nan")}, production_version=3
    )
    assert not result.passed and "production v3" in result.reasons[0]


def test_a_missing_metric_is_refused():
    assert not evaluate_gate(GateConfig(), {"f1": 0.9}, BASE).passed


# -- the lift over the baseline must be statistically meaningful ----------------------------


def _table(seed: int, rows: int = 300, signal: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, 5)), columns=[f"x{i}" for i in range(5)])
    label = (frame.x0 + frame.x1 + rng.normal(scale=0.5, size=rows)) > 0
    frame["y"] = (label if signal else rng.integers(0, 2, size=rows).astype(bool)).astype(int)
    return frame


def _train(frame: pd.DataFrame, **config):
    data = frame.to_csv(index=False).encode()
    schema = infer_schema(pd.read_csv(io.BytesIO(data)), "y")
    report, typed = validate_csv(data, schema)
    assert report.passed
    cfg = TrainingConfig.model_validate({"target": "y", **config})
    return train(typed, schema, cfg, data_sha256="x"), cfg


def _gate(run, cfg):
    return evaluate_gate(
        cfg.gate,
        run.manifest.metrics,
        run.manifest.baseline_metrics,
        parity_error=run.manifest.parity_error,
        assessment=run.manifest.assessment,
    )


def _lift_gate(frame: pd.DataFrame, config: TrainingConfig):
    """Split, fit and score as `train` does, then the gate on the lift and its bound (the rest
    of training's assessment is not needed here)."""
    from mlops_template.training.evaluate import baseline_metrics, classification_metrics
    from mlops_template.training.features import build_pipeline, model_inputs
    from mlops_template.training.train import assess_lift, split_by_hash

    data = frame.to_csv(index=False).encode()
    schema = infer_schema(pd.read_csv(io.BytesIO(data)), "y")
    _, typed = validate_csv(data, schema)
    train_rows, test_rows = split_by_hash(typed, config.test_size)
    model = build_pipeline(schema, config.model, config.seed)
    model.fit(model_inputs(train_rows, schema), train_rows["y"])
    probabilities = model.predict_proba(model_inputs(test_rows, schema))
    y_train, y_test = train_rows["y"].tolist(), test_rows["y"].tolist()
    lift = assess_lift(config, schema, y_test, probabilities, y_train)
    return evaluate_gate(
        config.gate,
        classification_metrics(y_test, probabilities, schema.target),
        baseline_metrics(y_train, y_test, schema.target),
        assessment={"lift": lift},
    )


def test_pure_noise_labels_are_refused_in_every_seed_and_real_signal_passes():
    config = TrainingConfig(target="y", model={"algorithm": "logistic_regression"})
    refused = sum(not _lift_gate(_table(seed), config).passed for seed in range(20))
    assert refused == 20
    # Without the bound (the point lift alone, as before) noise gets through.
    point_only = config.model_copy(update={"gate": GateConfig(lift_alpha=None)})
    assert sum(_lift_gate(_table(seed), point_only).passed for seed in range(20)) > 0
    gate = _lift_gate(_table(0, signal=True), config)
    assert gate.passed, gate.reasons
    assert gate.checks["lift"]["lower"] > config.gate.min_lift_over_baseline


def test_a_lift_whose_lower_bound_is_below_the_minimum_is_refused_even_when_its_point_is_not():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, size=60).astype(str).tolist()
    from mlops_template.training.schema import TargetSchema

    target = TargetSchema(name="y", classes=["0", "1"], positive_class="1")
    # A weak model: a little signal in few rows.
    p1 = np.clip(np.array([0.55 if v == "1" else 0.45 for v in y]) + rng.normal(0, 0.2, 60), 0, 1)
    probs = np.column_stack([1 - p1, p1])
    lift = bootstrap_lift(
        "roc_auc", y, probs, np.full((60, 2), 0.5), target, rounds=500, alpha=0.05, seed=0
    )
    assert lift["point"] > lift["lower"]
    config = GateConfig(min_lift_over_baseline=lift["point"] - 0.01)
    cand = {"roc_auc": 0.5 + lift["point"]}
    assert evaluate_gate(config.model_copy(update={"lift_alpha": None}), cand, BASE).passed
    refused = evaluate_gate(config, cand, BASE, assessment={"lift": lift})
    assert not refused.passed and "not statistically meaningful" in refused.reasons[0]


def test_a_regression_within_the_noise_of_the_compared_rows_is_not_one():
    config = GateConfig(max_regression=0.01)
    cand, prod = {"roc_auc": 0.95}, {"roc_auc": 0.99}
    noisy = {"production": {"lower": -0.02, "point": 0.04}}
    real = {"production": {"lower": 0.02, "point": 0.04}}
    assert evaluate_gate(config, cand, BASE, prod, production_version=1, assessment=noisy).passed
    assert not evaluate_gate(config, cand, BASE, prod, production_version=1, assessment=real).passed
    # No bound (the lift test switched off): the point comparison alone decides, as before.
    assert not evaluate_gate(config, cand, BASE, prod, production_version=1).passed


# -- the simple model, importance, ablation, tuning: recorded by training ------------------


@pytest.fixture(scope="module")
def demo_run(trained):
    return trained


def test_training_records_the_simple_model_and_the_gate_can_refuse_on_it(trained, config):
    simple = trained.manifest.assessment["simple_model"]
    assert simple["algorithm"] == "logistic_regression"
    assert simple["simple"] > 0.9 and simple["simple_size_bytes"] > 0
    assert simple["candidate_size_bytes"] == len(trained.onnx_bytes)
    assert simple["worth_its_complexity"] == (simple["candidate_minus_simple"] > 0)
    assert check_simple_model(GateConfig(), simple) == []  # recorded, not refused, by default
    strict = GateConfig(refuse_if_simple_model_wins=True, min_lift_over_simple_model=1.0)
    assert "not worth its complexity" in check_simple_model(strict, simple)[0]


def test_training_records_permutation_importance_for_every_feature(trained, schema):
    importance = trained.manifest.assessment["importance"]
    assert set(importance["features"]) == set(schema.feature_names)
    useless = [n for n, v in importance["features"].items() if v["mean"] <= 0]
    assert importance["useless"] == useless and useless  # the demo has features adding nothing
    assert check_importance(GateConfig(), importance) == []
    refused = check_importance(GateConfig(refuse_useless_features=True), importance)
    assert useless[0] in refused[0]


def test_the_ablation_retrains_without_the_useless_features_side_by_side(trained):
    ablation = trained.manifest.assessment["ablation"]
    without = ablation["without_useless"]
    assert without["dropped"] == trained.manifest.assessment["importance"]["useless"]
    assert without["size_bytes"] > 0 and without["metric"] > 0.9
    assert {"metric", "size_bytes", "latency_us_per_row"} <= set(ablation["candidate"])


def test_the_ablation_drops_the_features_the_config_marks_costly():
    run, _ = _train(
        _table(0, signal=True),
        model={"algorithm": "logistic_regression"},
        features={"costly": ["x1"]},
    )
    costly = run.manifest.assessment["ablation"]["without_costly"]
    assert costly["dropped"] == ["x1"]
    assert costly["metric"] < run.manifest.assessment["ablation"]["candidate"]["metric"]


def test_a_search_space_is_tuned_by_successive_halving_and_the_choice_recorded():
    run, _ = _train(
        _table(0, signal=True),
        model={"algorithm": "logistic_regression"},
        tuning={"search_space": {"C": [0.001, 0.1, 10.0]}, "method": "halving_grid", "cv": 2},
    )
    tuning = run.manifest.assessment["tuning"]
    assert tuning["candidates"] == 3 and tuning["best_params"]["C"] in (0.001, 0.1, 10.0)
    assert run.manifest.config["model"]["params"] == tuning["best_params"]
    assert tuning["best_params"]["C"] == run.pipeline.named_steps["model"].C


def test_the_config_hash_is_recorded_and_follows_the_settings(trained, config):
    from mlops_template.training.train import config_sha256

    assert trained.manifest.config_sha256 == config_sha256(config)
    assert config_sha256(config.with_overrides(seed=7)) != config_sha256(config)


# -- slices, fairness, feature policy --------------------------------------------------------


def _groups_table() -> tuple[pd.DataFrame, list[str], np.ndarray]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"group": ["a"] * 60 + ["b"] * 60, "x": rng.normal(size=120).astype(np.float32)}
    )
    y = (["1", "0"] * 30) + (["1", "0"] * 30)
    # Right on group a, wrong on half of group b.
    p1 = np.array([0.9 if v == "1" else 0.1 for v in y[:60]] + [0.6] * 60)
    return frame, y, np.column_stack([1 - p1, p1])


def test_slices_cover_categorical_values_and_numeric_bins_and_the_gate_refuses_a_weak_one():
    frame, y, probs = _groups_table()
    frame["y"] = y
    schema = infer_schema(frame, "y")
    config = TrainingConfig(target="y")
    slices = slice_metrics(frame, y, probs, schema, config)
    by_value = {(s["column"], s["value"]): s for s in slices}
    assert by_value[("group", "a")]["candidate"] == 1.0
    assert by_value[("group", "b")]["candidate"] == 0.5
    assert sum(s["column"] == "x" for s in slices) == config.features.quantile_bins
    assert check_slices(config.gate, slices) == []  # no floor configured
    floor = GateConfig(slice_floor=0.8, slice_min_rows=30)
    assert any("group=b" in r for r in check_slices(floor, slices))
    assert check_slices(floor.model_copy(update={"slice_min_rows": 61}), slices) == []


def test_a_slice_that_regresses_on_production_is_refused():
    slices = [
        {
            "column": "g",
            "value": "b",
            "rows": 50,
            "candidate": 0.7,
            "compared_rows": 50,
            "candidate_on_compared": 0.7,
            "production": 0.9,
        }
    ]
    assert "trails production" in check_slices(GateConfig(), slices)[0]
    assert check_slices(GateConfig(slice_max_regression=0.3), slices) == []


def test_group_fairness_is_measured_with_fairlearn_and_gated():
    frame, y, probs = _groups_table()
    frame["y"] = y
    schema = infer_schema(frame, "y")
    fairness = group_fairness(frame, y, probs, schema, ["group"])["group"]
    assert fairness["by_group"]["a"]["accuracy"] == 1.0
    assert fairness["by_group"]["b"]["accuracy"] == 0.5
    assert math.isclose(fairness["demographic_parity_difference"], 0.5)
    assert math.isclose(fairness["equalized_odds_difference"], 1.0)
    assert check_fairness(GateConfig(), {"group": fairness}) == []
    limited = GateConfig(max_demographic_parity_difference=0.1)
    assert (
        "demographic_parity_difference over group"
        in check_fairness(limited, {"group": fairness})[0]
    )


def test_the_feature_policy_names_forbidden_and_missing_required_columns(schema):
    present = schema.feature_names[0]
    assert feature_policy_problems(schema, FeaturePolicy()) is None
    problem = feature_policy_problems(
        schema, FeaturePolicy(forbidden=[present], required=["customer_age"])
    )
    assert f"forbidden column(s) used as features: {present}" in problem
    assert "required feature column(s) missing: customer_age" in problem


# -- the model's config lives in the repository under review rules --------------------------


def test_every_committed_config_is_valid_and_owned_by_reviewers():
    from pathlib import Path

    from mlops_template.training.config import ModelConfig, load_config
    from mlops_template.training.features import make_estimator

    repo = Path(__file__).resolve().parents[2]
    configs = sorted((repo / "configs").glob("*.toml"))
    assert configs
    owners = (repo / ".github" / "CODEOWNERS").read_text().splitlines()
    rules = [line.split()[0] for line in owners if line.strip() and not line.startswith("#")]
    for path in configs:
        config = load_config(path)
        first = {k: v[0] for k, v in config.tuning.search_space.items()}
        make_estimator(ModelConfig(algorithm=config.model.algorithm, params=first), seed=0)
        relative = "/" + path.relative_to(repo).as_posix()
        assert any(relative.startswith(rule) for rule in rules), f"{relative} has no owner"


def test_wide_tables_bound_what_the_assessment_costs_and_records():
    from mlops_template.core.pipeline import MAX_RECORDED_SLICES, _recorded

    run, _ = _train(
        _table(0, signal=True),
        model={"algorithm": "logistic_regression"},
        features={"importance_max_features": 2},
    )
    importance = run.manifest.assessment["importance"]
    assert "5 features" in importance["skipped"] and importance["useless"] == []
    many = {"slices": [{"column": "c", "value": str(i)} for i in range(MAX_RECORDED_SLICES + 5)]}
    recorded = _recorded(many)
    assert len(recorded["slices"]) == MAX_RECORDED_SLICES
    assert recorded["slices_total"] == MAX_RECORDED_SLICES + 5
