"""The feature pipeline and estimator, built from the schema and the config.

Every step used here has an ONNX converter, so the fitted pipeline exports as one graph and the
serving path never needs scikit-learn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops_template.training.config import ConfigError, ModelConfig
from mlops_template.training.schema import MISSING_CATEGORY, DatasetSchema

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline


def make_estimator(config: ModelConfig, seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    defaults: dict[str, dict[str, Any]] = {
        "logistic_regression": {"max_iter": 2000},
        "random_forest": {"n_estimators": 200, "n_jobs": 1},
        "hist_gradient_boosting": {},
    }
    estimator_class = {
        "logistic_regression": LogisticRegression,
        "random_forest": RandomForestClassifier,
        "hist_gradient_boosting": HistGradientBoostingClassifier,
    }[config.algorithm]
    params = {**defaults[config.algorithm], **config.params, "random_state": seed}
    try:
        return estimator_class(**params)
    except TypeError as exc:
        raise ConfigError(f"model.params for {config.algorithm}: {exc}") from exc


def build_pipeline(schema: DatasetSchema, config: ModelConfig, seed: int) -> Pipeline:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric_steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
    if config.algorithm == "logistic_regression":
        numeric_steps.append(("scale", StandardScaler()))
    transformers: list[tuple[str, Any, list[str]]] = []
    if schema.numeric_features:
        transformers.append(("numeric", Pipeline(numeric_steps), schema.numeric_features))
    if schema.categorical_features:
        transformers.append(
            (
                "categorical",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                schema.categorical_features,
            )
        )
    return Pipeline(
        [
            ("features", ColumnTransformer(transformers, remainder="drop")),
            ("model", make_estimator(config, seed)),
        ]
    )


def model_inputs(frame: pd.DataFrame, schema: DatasetSchema) -> pd.DataFrame:
    """Feature columns as the pipeline and the ONNX graph take them, in schema order."""
    import numpy as np

    out = frame[schema.feature_names].copy()
    for name in schema.numeric_features:
        out[name] = out[name].astype(np.float32)
    for name in schema.categorical_features:
        out[name] = out[name].astype(object).where(out[name].notna(), MISSING_CATEGORY).astype(str)
    return out
