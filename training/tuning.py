"""Hyperparameter tuning within a budget: scikit-learn's successive halving.

Successive halving gives every candidate a small share of the training rows, keeps the best
`1/factor` and gives them `factor` times more, until one is left: a search of many candidates
costs a few full fits. The search is seeded and single-threaded, so a run reproduces.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops_template.training.config import ConfigError, TrainingConfig
from mlops_template.training.schema import TargetSchema

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline


def tune(
    pipeline: Pipeline,
    config: TrainingConfig,
    train_x: pd.DataFrame,
    train_y: pd.Series,
    target: TargetSchema,
) -> tuple[Pipeline, dict[str, Any]]:
    """The pipeline refitted with the best parameters found, and what the search did."""
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingGridSearchCV, HalvingRandomSearchCV

    from mlops_template.training.assessment import _scorer

    tuning = config.tuning
    space = {f"model__{name}": values for name, values in tuning.search_space.items()}
    common: dict[str, Any] = {
        "factor": tuning.factor,
        "cv": tuning.cv,
        "scoring": _scorer(config.gate.metric_for(target.task), target),
        "refit": True,
        "n_jobs": 1,
        "error_score": "raise",
    }
    if tuning.method == "halving_grid":
        search: Any = HalvingGridSearchCV(pipeline, space, **common)
    else:
        search = HalvingRandomSearchCV(
            pipeline,
            space,
            n_candidates=tuning.candidates,
            random_state=config.seed,
            **common,
        )
    try:
        search.fit(train_x, train_y)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"tuning.search_space: {exc}") from exc
    best = {k.removeprefix("model__"): _plain(v) for k, v in search.best_params_.items()}
    return search.best_estimator_, {
        "method": tuning.method,
        "best_params": best,
        "best_cv_score": round(float(search.best_score_), 6),
        "candidates": int(search.n_candidates_[0]),
        "iterations": int(search.n_iterations_),
        "metric": config.gate.metric_for(target.task),
    }


def _plain(value: Any) -> Any:
    """numpy scalars as Python ones: the chosen parameters go into JSON records."""
    return value.item() if hasattr(value, "item") else value
