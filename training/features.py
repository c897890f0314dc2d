"""The feature pipeline and estimator, built from the schema and the config.

Every step used here has an ONNX converter, so the fitted pipeline exports as one graph and the
serving path never needs scikit-learn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops_template.training.config import ConfigError, ModelConfig
from mlops_template.training.schema import MISSING_CATEGORY, DatasetSchema, Task

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline


# One thread and fixed seeds: the same data gives the same trees, and the same model bytes, in
# every process (threads would sum histograms in a varying order).
_LIGHTGBM: dict[str, Any] = {"n_estimators": 200, "n_jobs": 1, "deterministic": True, "verbose": -1}
_XGBOOST: dict[str, Any] = {"n_estimators": 200, "n_jobs": 1, "tree_method": "hist"}
# The extra that installs each optional library.
EXTRAS = {"lightgbm": "lightgbm", "xgboost": "xgboost"}

# Per task, each algorithm's estimator class (module, name) and the defaults we set.
ESTIMATORS: dict[str, dict[str, tuple[str, str, dict[str, Any]]]] = {
    "classification": {
        "logistic_regression": ("sklearn.linear_model", "LogisticRegression", {"max_iter": 2000}),
        "random_forest": (
            "sklearn.ensemble",
            "RandomForestClassifier",
            {"n_estimators": 200, "n_jobs": 1},
        ),
        "hist_gradient_boosting": ("sklearn.ensemble", "HistGradientBoostingClassifier", {}),
        "lightgbm": ("lightgbm", "LGBMClassifier", _LIGHTGBM),
        "xgboost": ("xgboost", "XGBClassifier", _XGBOOST),
    },
    "regression": {
        "linear_regression": ("sklearn.linear_model", "Ridge", {"alpha": 1.0}),
        "random_forest": (
            "sklearn.ensemble",
            "RandomForestRegressor",
            {"n_estimators": 200, "n_jobs": 1},
        ),
        "hist_gradient_boosting": ("sklearn.ensemble", "HistGradientBoostingRegressor", {}),
        "lightgbm": ("lightgbm", "LGBMRegressor", _LIGHTGBM),
        "xgboost": ("xgboost", "XGBRegressor", _XGBOOST),
    },
}
# Estimators that take no seed (a ridge regression is deterministic).
_UNSEEDED = {"Ridge"}


def make_estimator(config: ModelConfig, seed: int, task: Task = "classification") -> Any:
    import importlib

    choices = ESTIMATORS[task]
    if config.algorithm not in choices:
        raise ConfigError(
            f"model.algorithm {config.algorithm!r} does not do {task}: use one of {sorted(choices)}"
        )
    module, name, defaults = choices[config.algorithm]
    try:
        estimator_class = getattr(importlib.import_module(module), name)
    except ImportError as exc:
        extra = EXTRAS.get(config.algorithm, config.algorithm)
        raise ConfigError(
            f"model.algorithm {config.algorithm!r} needs the {extra!r} extra: "
            f"pip install 'serverless-mlops-template[{extra}]'"
        ) from exc
    seeded = {} if name in _UNSEEDED else {"random_state": seed}
    params = {**defaults, **config.params, **seeded}
    try:
        return estimator_class(**params)
    except TypeError as exc:
        raise ConfigError(f"model.params for {config.algorithm}: {exc}") from exc


class FactoryError(ConfigError):
    """model.factory cannot be imported, or did not return an unfitted estimator."""


def load_factory(path: str) -> Any:
    """The function a `package.module:build` path names."""
    import importlib

    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise FactoryError(f"model.factory {path!r}: cannot import {module_name!r}: {exc}") from exc
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise FactoryError(f"model.factory {path!r}: {module_name} has no function {attribute!r}")
    return factory


def factory_version(path: str) -> str:
    """The installed version of the distribution that provides the factory's top package."""
    from importlib.metadata import PackageNotFoundError, packages_distributions, version

    top = path.partition(":")[0].split(".")[0]
    for distribution in packages_distributions().get(top, []):
        try:
            return version(distribution)
        except PackageNotFoundError:
            continue
    return "not installed"


def build_pipeline(schema: DatasetSchema, config: ModelConfig, seed: int) -> Any:
    """Our pipeline for the configured algorithm, or what the configured factory builds."""
    if config.factory is not None:
        from sklearn.base import clone, is_classifier, is_regressor

        estimator = load_factory(config.factory)(schema, seed, **config.params)
        fits = is_regressor if schema.target.task == "regression" else is_classifier
        if not fits(estimator):
            kind = "regressor" if schema.target.task == "regression" else "classifier"
            raise FactoryError(
                f"model.factory {config.factory!r} returned {type(estimator).__name__}, not a "
                f"scikit-learn {kind} (or a pipeline ending in one)"
            )
        return clone(estimator)  # unfitted, whatever the factory handed back
    return default_pipeline(schema, config, seed)


def default_pipeline(schema: DatasetSchema, config: ModelConfig, seed: int) -> Pipeline:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric_steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
    if config.algorithm in ("logistic_regression", "linear_regression"):
        numeric_steps.append(("scale", StandardScaler()))
    transformers: list[tuple[str, Any, list[str]]] = []
    # Date columns reach the model as their calendar features: numbers like any other.
    if numeric := schema.numeric_model_columns:
        transformers.append(("numeric", Pipeline(numeric_steps), numeric))
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
            ("model", make_estimator(config, seed, schema.target.task)),
        ]
    )


def encodes_labels(estimator: Any) -> bool:
    """XGBoost's classifier takes class indices (0..k-1), not the class names."""
    from mlops_template.training.export import final_estimator

    return type(final_estimator(estimator)).__module__.startswith("xgboost")


def model_inputs(frame: pd.DataFrame, schema: DatasetSchema) -> pd.DataFrame:
    """Feature columns as the pipeline and the ONNX graph take them, in schema order; a date
    column becomes its calendar features (`ColumnSchema.derive`, which serving calls too)."""
    import numpy as np
    import pandas as pd

    if not schema.datetime_features:
        out = frame[schema.feature_names].copy()
    else:
        parts: dict[str, Any] = {}
        for column in schema.columns:
            if column.kind == "datetime" and column.name not in frame.columns:
                # Inputs derived already (`model_inputs` of `model_inputs`): kept as they are.
                parts.update({name: frame[name] for name in column.derived_names})
            elif column.kind == "datetime":
                values = column.derive(frame[column.name].tolist())
                parts.update(zip(column.derived_names, values, strict=True))
            else:
                parts[column.name] = frame[column.name]
        out = pd.DataFrame(parts, index=frame.index)
    for name in schema.numeric_features:
        out[name] = out[name].astype(np.float32)
    for name in schema.categorical_features:
        out[name] = out[name].astype(object).where(out[name].notna(), MISSING_CATEGORY).astype(str)
    return out
