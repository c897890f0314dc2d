"""Classification metrics for a model and for the dummy baseline it has to beat."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlops_template.training.schema import TargetSchema

METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")


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


def baseline_metrics(
    y_train: Sequence[str], y_test: Sequence[str], target: TargetSchema
) -> dict[str, float]:
    """A model that always answers the training class frequencies: what 'no skill' scores."""
    labels = list(y_train)
    prior = np.array([labels.count(c) / len(labels) for c in target.classes])
    return classification_metrics(y_test, np.tile(prior, (len(y_test), 1)), target)
