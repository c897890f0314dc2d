"""Metrics for a model and for the no-skill baseline it has to beat, per task.

`METRICS` is the registry every consumer (gate, sweeps, A/B tests, tracking) reads: a metric's
task and whether a higher value is better.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from mlops_template.training.schema import TargetSchema, Task


@dataclass(frozen=True)
class MetricSpec:
    task: Task
    higher_is_better: bool
    # Metrics in the target's own units (RMSE in minutes, dollars...) have no fixed scale: the
    # gate's margins for them are fractions of the value compared against.
    scale_free: bool = True


METRICS: dict[str, MetricSpec] = {
    "accuracy": MetricSpec("classification", True),
    "precision": MetricSpec("classification", True),
    "recall": MetricSpec("classification", True),
    "f1": MetricSpec("classification", True),
    "roc_auc": MetricSpec("classification", True),
    "log_loss": MetricSpec("classification", False),
    "rmse": MetricSpec("regression", False, scale_free=False),
    "mae": MetricSpec("regression", False, scale_free=False),
    "r2": MetricSpec("regression", True),
    "mape": MetricSpec("regression", False),
}
DEFAULT_METRIC: dict[Task, str] = {"classification": "roc_auc", "regression": "rmse"}


def higher_is_better(metric: str) -> bool:
    return METRICS[metric].higher_is_better


def better(metric: str, a: float, b: float) -> bool:
    """Whether value `a` of `metric` is strictly better than `b`."""
    return a > b if higher_is_better(metric) else a < b


def classification_metrics(
    y_true: Sequence[str], probabilities: np.ndarray, target: TargetSchema
) -> dict[str, float]:
    """Metrics from class probabilities (columns in `target.classes` order)."""
    from sklearn.metrics import (
        accuracy_score,
        f1_score,
        log_loss,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    classes = np.asarray(target.classes, dtype=object)
    y = np.asarray(y_true, dtype=object)
    # ONNX computes in float32: rows sum to 1 only within ~1e-7, and scikit-learn's log loss
    # warns beyond 1.5e-8. Clip (log loss needs p > 0) and renormalise in float64.
    probabilities = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-15, 1)
    probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)
    predicted = classes[np.argmax(probabilities, axis=1)]
    if len(classes) == 2 and target.positive_class is not None:
        positive = target.positive_class
        pos_index = target.classes.index(positive)
        averaging = {"average": "binary", "pos_label": positive}
        auc = roc_auc_score(y == positive, probabilities[:, pos_index])
    else:
        averaging = {"average": "macro"}
        auc = roc_auc_score(y, probabilities, multi_class="ovr", labels=list(classes))
    return {
        "accuracy": float(accuracy_score(y, predicted)),
        "precision": float(precision_score(y, predicted, zero_division=0, **averaging)),
        "recall": float(recall_score(y, predicted, zero_division=0, **averaging)),
        "f1": float(f1_score(y, predicted, zero_division=0, **averaging)),
        "roc_auc": float(auc),
        "log_loss": float(log_loss(y, probabilities, labels=list(classes))),
    }


def regression_metrics(y_true: ArrayLike, predicted: ArrayLike) -> dict[str, float]:
    """RMSE, MAE and R²; MAPE only where no true value is 0 (it divides by them)."""
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(predicted, dtype=np.float64).reshape(-1)
    errors = p - y
    total = float(np.sum((y - y.mean()) ** 2))
    metrics = {
        "rmse": float(np.sqrt(np.mean(errors**2))),
        "mae": float(np.mean(np.abs(errors))),
        # A constant truth has no variance to explain: R² is 0 for a perfect fit's absence.
        "r2": 1.0 - float(np.sum(errors**2)) / total if total > 0 else 0.0,
    }
    if len(y) and np.all(y != 0):
        metrics["mape"] = float(np.mean(np.abs(errors / y)))
    return metrics


def baseline_metrics(
    y_train: Sequence[Any], y_test: Sequence[Any], target: TargetSchema
) -> dict[str, float]:
    """What 'no skill' scores. Classification: always the training class frequencies.
    Regression: always the training mean (the median for MAE, which the median minimises)."""
    if target.task == "regression":
        train = np.asarray(y_train, dtype=np.float64)
        n = len(y_test)
        by_mean = regression_metrics(y_test, np.full(n, train.mean()))
        by_median = regression_metrics(y_test, np.full(n, np.median(train)))
        return {**by_mean, "mae": by_median["mae"]}
    labels = list(y_train)
    prior = np.array([labels.count(c) / len(labels) for c in target.classes])
    return classification_metrics(y_test, np.tile(prior, (len(y_test), 1)), target)


def model_metrics(
    y_true: Sequence[Any], outputs: np.ndarray, target: TargetSchema
) -> dict[str, float]:
    """The task's metrics from a model's outputs: class probabilities or predicted values."""
    if target.task == "regression":
        return regression_metrics(y_true, outputs)
    return classification_metrics(y_true, outputs, target)
