"""What the gate and the run record need to know about a candidate beyond its metrics.

- the lift over the no-skill baseline with a bootstrap confidence bound (noise is not skill);
- a simple model (logistic or linear regression) on the same split: is the candidate worth it;
- permutation importance per feature on the held-out rows, and an ablation without the costly
  (or useless) features: metric, size and latency side by side;
- per-slice metrics (the config's columns, every categorical column, numeric quantile bins) and
  group fairness over the config's sensitive columns (fairlearn).

Everything is seeded: the same run gives the same figures (latencies aside).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops_template.training.config import ModelConfig, TrainingConfig
from mlops_template.training.evaluate import METRICS, classification_metrics, regression_metrics
from mlops_template.training.schema import DatasetSchema, TargetSchema

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

# The simple model each task is compared with: logistic regression, or a ridge regression
# (`linear_regression`), in the same preprocessing pipeline as the candidate.
SIMPLE_MODELS: dict[str, str] = {
    "classification": "logistic_regression",
    "regression": "linear_regression",
}


def gain(metric: str, value: Any, reference: Any) -> Any:
    """How much better `value` is than `reference` in the gate's units (`gate.improvement`,
    elementwise): positive when better whatever the metric's direction, relative to the
    reference for metrics in the target's units (RMSE, MAE)."""
    spec = METRICS[metric]
    value, reference = np.asarray(value, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    diff = value - reference if spec.higher_is_better else reference - value
    if spec.scale_free:
        return diff
    with np.errstate(invalid="ignore", divide="ignore"):
        return diff / np.abs(reference)


def outputs_of(estimator: Any, x: Any, target: TargetSchema) -> np.ndarray:
    """What the task's metrics take from a fitted model: values, or class probabilities."""
    if target.task == "regression":
        return np.asarray(estimator.predict(x), dtype=np.float64).reshape(-1)
    return estimator.predict_proba(x)


def _regression_rounds(metric: str, y: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """A regression metric of each row of `predicted` (rounds x rows) against `y` (same shape):
    the bootstrap's rounds at once."""
    errors = predicted - y
    if metric == "rmse":
        return np.sqrt(np.mean(errors**2, axis=1))
    if metric == "mae":
        return np.mean(np.abs(errors), axis=1)
    if metric == "mape":
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.abs(errors / y)
        return np.where(np.all(y != 0, axis=1), np.mean(ratio, axis=1), np.nan)
    if metric == "r2":
        total = np.sum((y - y.mean(axis=1, keepdims=True)) ** 2, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, 1.0 - np.sum(errors**2, axis=1) / total, 0.0)
    raise ValueError(f"{metric!r} is not a regression metric")


def metric_value(
    metric: str, y_true: Sequence[Any], probabilities: np.ndarray, target: TargetSchema
) -> float | None:
    """One metric of a model's outputs (class probabilities, or a regression's values); None
    where it is undefined (ROC AUC on rows of one class, MAPE where a true value is 0)."""
    if target.task == "regression":
        if not len(y_true):
            return None
        return regression_metrics(y_true, probabilities).get(metric)
    present = set(y_true)
    if metric == "roc_auc" and len(present) < 2:
        return None
    if metric == "roc_auc" and len(present) < len(target.classes):
        return None  # one-vs-rest AUC of a class absent from these rows is undefined
    if metric == "roc_auc" and len(target.classes) == 2 and target.positive_class is not None:
        # The one metric the importance and bootstrap loops need fast: no other metric computed.
        positive = np.asarray(y_true, dtype=object) == target.positive_class
        scores = np.asarray(probabilities)[:, target.classes.index(target.positive_class)]
        return float(_binary_auc(positive[None, :], scores[None, :])[0])
    return classification_metrics(y_true, probabilities, target)[metric]


def _binary_auc(positive: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """ROC AUC of each row of `scores` (rounds x rows) against `positive` (same shape), ties
    counted as half (Mann-Whitney U from average ranks); NaN where a row has one class."""
    from scipy.stats import rankdata

    ranks = rankdata(scores, axis=1)
    n_pos = positive.sum(axis=1)
    n_neg = positive.shape[1] - n_pos
    u = (ranks * positive).sum(axis=1) - n_pos * (n_pos + 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), u / (n_pos * n_neg), np.nan)


def bootstrap_lift(
    metric: str,
    y_true: Sequence[Any],
    candidate: np.ndarray,
    baseline: np.ndarray,
    target: TargetSchema,
    *,
    rounds: int,
    alpha: float,
    seed: int,
) -> dict[str, Any]:
    """How much better `candidate` scores than `baseline` on the held-out rows (in the gate's
    units, `gain`: positive is better whichever way the metric points, so for RMSE it is the
    baseline's error minus the candidate's, relative to the baseline's), with a one-sided
    (1 - alpha) lower bound: the same resampled rows score both models in each round (paired
    bootstrap)."""
    regression = target.task == "regression"
    y = np.asarray(y_true, dtype=np.float64 if regression else object)
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(y), size=(rounds, len(y)))
    if regression:
        yy = y[index]
        diffs = gain(
            metric,
            _regression_rounds(metric, yy, np.asarray(candidate, dtype=np.float64)[index]),
            _regression_rounds(metric, yy, np.asarray(baseline, dtype=np.float64)[index]),
        )
    elif metric == "roc_auc" and len(target.classes) == 2 and target.positive_class is not None:
        pos = target.classes.index(target.positive_class)
        positive = (y == target.positive_class)[index]
        diffs = _binary_auc(positive, candidate[:, pos][index]) - _binary_auc(
            positive, baseline[:, pos][index]
        )
    else:
        diffs = np.full(rounds, np.nan)
        for r in range(rounds):
            rows = index[r]
            got = [
                metric_value(metric, y[rows].tolist(), p[rows], target)
                for p in (candidate, baseline)
            ]
            if None not in got:
                diffs[r] = gain(metric, got[0], got[1])
    cand = metric_value(metric, y.tolist(), candidate, target)
    base = metric_value(metric, y.tolist(), baseline, target)
    point = float(gain(metric, cand, base)) if cand is not None and base is not None else np.nan
    finite = diffs[np.isfinite(diffs)]
    lower = float(np.quantile(finite, alpha)) if len(finite) else float("nan")
    return {
        "metric": metric,
        "point": round(float(point), 6),
        "lower": round(lower, 6),
        "alpha": alpha,
        "rounds": rounds,
        "rows": len(y),
    }


def _scorer(metric: str, target: TargetSchema) -> Callable[[Any, Any, Any], float]:
    """A scikit-learn scorer (greater is better, as permutation importance and the searches
    assume): a lower-is-better metric such as RMSE is negated."""
    sign = 1.0 if METRICS[metric].higher_is_better else -1.0

    def score(estimator: Any, x: Any, y: Any) -> float:
        value = metric_value(metric, list(y), outputs_of(estimator, x, target), target)
        return float("nan") if value is None else sign * value

    return score


def onnx_size_and_latency(
    pipeline: Pipeline, schema: DatasetSchema, frame: pd.DataFrame, onnx_bytes: bytes | None = None
) -> dict[str, float]:
    """The exported model's size and its onnxruntime scoring time per row (best of 3 batches)."""
    from mlops_template.training.export import export_onnx
    from mlops_template.training.onnx_model import OnnxClassifier, OnnxRegressor

    onnx_bytes = onnx_bytes or export_onnx(pipeline, schema)
    kind = OnnxRegressor if schema.target.task == "regression" else OnnxClassifier
    model = kind(onnx_bytes, schema, threads=1)
    columns = model.columns_from_frame(frame)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        model.predict_columns(columns)
        best = min(best, time.perf_counter() - start)
    return {
        "size_bytes": len(onnx_bytes),
        "latency_us_per_row": round(best / max(len(frame), 1) * 1e6, 3),
    }


def reduced_schema(schema: DatasetSchema, drop: Sequence[str]) -> DatasetSchema:
    return schema.model_copy(update={"columns": [c for c in schema.columns if c.name not in drop]})


def simple_model_comparison(
    schema: DatasetSchema,
    config: TrainingConfig,
    train_x: pd.DataFrame,
    train_y: pd.Series,
    test_x: pd.DataFrame,
    test_y: Sequence[Any],
    candidate: dict[str, Any],
) -> dict[str, Any]:
    """The simple model for the task on the same split: metric, size and latency beside the
    candidate's, and the candidate's lead in the gate's units (`gain`; positive: the candidate
    is worth its complexity)."""
    from mlops_template.training.features import build_pipeline

    task = schema.target.task
    algorithm = SIMPLE_MODELS[task]
    simple = build_pipeline(
        schema, ModelConfig.model_validate({"algorithm": algorithm}), config.seed
    )
    simple.fit(train_x, train_y)
    metric = config.gate.metric_for(task)
    value = metric_value(
        metric, list(test_y), outputs_of(simple, test_x, schema.target), schema.target
    )
    cost = onnx_size_and_latency(simple, schema, test_x)
    lead = (
        float(gain(metric, candidate["metric"], value))
        if value is not None and candidate["metric"] is not None
        else float("nan")
    )
    return {
        "algorithm": algorithm,
        "metric": metric,
        "simple": value,
        "candidate": candidate["metric"],
        "candidate_minus_simple": round(lead, 6),
        "worth_its_complexity": bool(lead > 0),
        "simple_size_bytes": cost["size_bytes"],
        "candidate_size_bytes": candidate["size_bytes"],
        "simple_latency_us_per_row": cost["latency_us_per_row"],
        "candidate_latency_us_per_row": candidate["latency_us_per_row"],
    }


def permutation_importances(
    pipeline: Pipeline,
    schema: DatasetSchema,
    test_x: pd.DataFrame,
    test_y: Sequence[Any],
    metric: str,
    *,
    max_rows: int,
    seed: int,
    repeats: int = 5,
) -> dict[str, Any]:
    """Mean loss in the metric when a feature's held-out values are shuffled (seeded, at most
    `max_rows` rows; for RMSE the rise in error). Features at or below zero add nothing the
    model can use."""
    from sklearn.inspection import permutation_importance
    from threadpoolctl import threadpool_limits

    rows = min(len(test_x), max_rows)
    # Many small predictions: one thread each is faster than waking a pool for every one.
    with threadpool_limits(1):
        result = permutation_importance(
            pipeline,
            test_x.iloc[:rows],
            list(test_y)[:rows],
            scoring=_scorer(metric, schema.target),
            n_repeats=repeats,
            random_state=seed,
            n_jobs=1,
        )
    features = {
        name: {"mean": round(float(m), 6), "std": round(float(s), 6)}
        # Per model input: a date column's calendar features each have their own.
        for name, m, s in zip(
            list(test_x.columns), result.importances_mean, result.importances_std, strict=True
        )
    }
    return {
        "metric": metric,
        "rows": rows,
        "repeats": repeats,
        "features": features,
        "useless": [n for n, v in features.items() if not v["mean"] > 0],
    }


def ablation(
    schema: DatasetSchema,
    config: TrainingConfig,
    pipeline_factory: Callable[[DatasetSchema], Pipeline],
    train_x: pd.DataFrame,
    train_y: pd.Series,
    test_x: pd.DataFrame,
    test_y: Sequence[Any],
    candidate: dict[str, Any],
    groups: dict[str, list[str]],
) -> dict[str, Any]:
    """The candidate retrained without each group of features: metric, size, latency."""
    results: dict[str, Any] = {"candidate": candidate}
    for name, drop in groups.items():
        drop = [c for c in drop if c in schema.feature_names]
        if not drop or len(drop) == len(schema.feature_names):
            continue
        smaller = reduced_schema(schema, drop)
        model = pipeline_factory(smaller)
        inputs = [input_name for input_name, _ in smaller.model_columns]
        model.fit(train_x[inputs], train_y)
        test = test_x[inputs]
        value = metric_value(
            config.gate.metric_for(schema.target.task),
            list(test_y),
            outputs_of(model, test, schema.target),
            schema.target,
        )
        results[name] = {
            "dropped": drop,
            "metric": value,
            **onnx_size_and_latency(model, smaller, test),
        }
    return results


def _slices(frame: pd.DataFrame, schema: DatasetSchema, columns: Sequence[str], bins: int):
    """(column, value label, row mask) for every categorical value and numeric quantile bin."""
    import pandas as pd

    wanted = list(dict.fromkeys([*columns, *schema.categorical_features]))
    for column in wanted:
        if column not in frame.columns:
            continue
        values = frame[column].astype(object).where(frame[column].notna(), "(missing)").astype(str)
        for value in sorted(values.unique()):
            yield column, value, (values == value).to_numpy()
    for column in schema.numeric_features:
        if column in wanted:
            continue
        try:
            binned = pd.qcut(frame[column], q=bins, duplicates="drop")
        except ValueError:
            continue
        for interval in binned.cat.categories:
            yield column, str(interval), (binned == interval).to_numpy()


def slice_metrics(
    frame: pd.DataFrame,
    y_true: Sequence[Any],
    candidate: np.ndarray,
    schema: DatasetSchema,
    config: TrainingConfig,
    *,
    production: np.ndarray | None = None,
    compared: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """The gate metric per slice. Where production was scored (`production`: its outputs on the
    rows `compared` marks), both models on the slice's compared rows too."""
    metric = config.gate.metric_for(schema.target.task)
    y = np.asarray(list(y_true), dtype=object)
    out = []
    for column, value, mask in _slices(
        frame, schema, config.features.slices, config.features.quantile_bins
    ):
        if not mask.any():
            continue
        entry: dict[str, Any] = {
            "column": column,
            "value": value,
            "rows": int(mask.sum()),
            "candidate": _rounded(
                metric_value(metric, y[mask].tolist(), candidate[mask], schema.target)
            ),
        }
        if production is not None and compared is not None:
            both = mask & compared
            sub = both[compared]
            entry["compared_rows"] = int(both.sum())
            if both.any():
                entry["candidate_on_compared"] = _rounded(
                    metric_value(metric, y[both].tolist(), candidate[both], schema.target)
                )
                entry["production"] = _rounded(
                    metric_value(metric, y[both].tolist(), production[sub], schema.target)
                )
        out.append(entry)
    return out


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)


def _groups(frame: pd.DataFrame, column: str) -> pd.Series:
    return frame[column].astype(object).where(frame[column].notna(), "(missing)").astype(str)


def _regression_groups(
    frame: pd.DataFrame, y_true: Sequence[Any], predicted: np.ndarray, sensitive: Sequence[str]
) -> dict[str, Any]:
    from fairlearn.metrics import MetricFrame
    from sklearn.metrics import mean_absolute_error, root_mean_squared_error

    y = np.asarray(list(y_true), dtype=np.float64)
    p = np.asarray(predicted, dtype=np.float64).reshape(-1)
    out: dict[str, Any] = {}
    for column in sensitive:
        if column not in frame.columns:
            continue
        by_group = MetricFrame(
            metrics={"rmse": root_mean_squared_error, "mae": mean_absolute_error},
            y_true=y,
            y_pred=p,
            sensitive_features=_groups(frame, column),
        )
        gaps = by_group.difference()
        out[column] = {
            "by_group": {
                str(g): {k: round(float(v), 6) for k, v in row.items()}
                for g, row in by_group.by_group.to_dict(orient="index").items()
            },
            "rmse_difference": round(float(gaps["rmse"]), 6),
            "mae_difference": round(float(gaps["mae"]), 6),
        }
    return out


def group_fairness(
    frame: pd.DataFrame,
    y_true: Sequence[str],
    candidate: np.ndarray,
    schema: DatasetSchema,
    sensitive: Sequence[str],
) -> dict[str, Any]:
    """fairlearn's group metrics over each sensitive column (binary targets: the positive class
    is what parity and equalized odds are about; regression: RMSE and MAE per group and the gap
    between the best and the worst group)."""
    from fairlearn.metrics import (
        MetricFrame,
        demographic_parity_difference,
        equalized_odds_difference,
        selection_rate,
    )
    from sklearn.metrics import accuracy_score

    target = schema.target
    if target.task == "regression":
        return _regression_groups(frame, y_true, candidate, sensitive)
    if len(target.classes) != 2 or target.positive_class is None:
        return {}
    classes = np.asarray(target.classes, dtype=object)
    predicted = classes[np.argmax(candidate, axis=1)] == target.positive_class
    actual = np.asarray(list(y_true), dtype=object) == target.positive_class
    out: dict[str, Any] = {}
    for column in sensitive:
        if column not in frame.columns:
            continue
        groups = frame[column].astype(object).where(frame[column].notna(), "(missing)").astype(str)
        by_group = MetricFrame(
            metrics={"accuracy": accuracy_score, "selection_rate": selection_rate},
            y_true=actual,
            y_pred=predicted,
            sensitive_features=groups,
        )
        out[column] = {
            "by_group": {
                str(g): {k: round(float(v), 6) for k, v in row.items()}
                for g, row in by_group.by_group.to_dict(orient="index").items()
            },
            "demographic_parity_difference": round(
                float(demographic_parity_difference(actual, predicted, sensitive_features=groups)),
                6,
            ),
            "equalized_odds_difference": round(
                float(equalized_odds_difference(actual, predicted, sensitive_features=groups)), 6
            ),
        }
    return out
