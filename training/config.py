"""Training configuration: one file says what to train, how to validate, gate and watch it.

Files are TOML or JSON. Every field has a default, so an empty file is a valid config.
"""

from __future__ import annotations

import json
import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from mlops_template.training.privacy import PrivacyConfig
from mlops_template.training.schema import Task

Algorithm = Literal[
    "logistic_regression",
    "linear_regression",
    "random_forest",
    "hist_gradient_boosting",
    "lightgbm",  # the [lightgbm] extra
    "xgboost",  # the [xgboost] extra
]
Metric = Literal["accuracy", "precision", "recall", "f1", "roc_auc", "rmse", "mae", "r2", "mape"]


class ConfigError(ValueError):
    """The configuration file is missing, unreadable or invalid."""


# Model names become bucket keys, table keys and (in Terraform) resource names: one rule for
# every command, the pipeline, the handlers and the stack's `model_name` variable.
MODEL_NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
MODEL_NAME_RULE = "1 to 63 lowercase letters, digits or hyphens, starting with a letter or digit"


def check_model_name(name: str) -> str:
    """The name itself when it follows the rule; otherwise ValueError with a one-line reason."""
    if not re.fullmatch(MODEL_NAME_PATTERN, name):
        shown = name if len(name) <= 70 else f"{name[:70]}..."
        raise ValueError(f"invalid model name {shown!r}: use {MODEL_NAME_RULE}")
    return name


ModelName = Annotated[str, AfterValidator(check_model_name)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


FACTORY_PATTERN = r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"


class ModelConfig(_Strict):
    algorithm: Algorithm = "hist_gradient_boosting"
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Hyperparameters passed to the scikit-learn estimator (or to the factory).",
    )
    factory: str | None = Field(
        default=None,
        pattern=FACTORY_PATTERN,
        description="`package.module:build`: a function build(schema, seed, **params) returning "
        "an unfitted scikit-learn estimator or pipeline, used instead of `algorithm`.",
    )


class ValidationThresholds(_Strict):
    max_bytes: int = Field(default=100 * 1024 * 1024, gt=0)
    max_columns: int = Field(
        default=2000, ge=1, description="A wider header is rejected before the file is parsed."
    )
    min_rows: int = Field(default=20, ge=1)
    max_missing_ratio: float = Field(default=0.05, ge=0, le=1)
    max_duplicate_ratio: float = Field(default=0.05, ge=0, le=1)
    max_unknown_category_ratio: float = Field(default=0.05, ge=0, le=1)
    max_out_of_range_ratio: float = Field(default=0.05, ge=0, le=1)
    range_tolerance: float = Field(
        default=0.1, ge=0, description="Slack around the training range, as a share of its width."
    )
    max_mean_shift_z: float = Field(
        default=4.0, gt=0, description="A column mean further than this many stds is a shift."
    )
    max_label_shift: float = Field(default=0.25, ge=0, le=1)
    allow_extra_columns: bool = False


class GateConfig(_Strict):
    metric: Metric | None = Field(
        default=None, description="Default: roc_auc for classification, rmse for regression."
    )
    min_lift_over_baseline: float = Field(
        default=0.05, description="The candidate must beat the dummy baseline by this much."
    )
    max_regression: float = Field(
        default=0.01, ge=0, description="The candidate may trail production by at most this much."
    )
    max_parity_error: float = Field(
        default=1e-4,
        gt=0,
        description="Max |ONNX - scikit-learn| probability difference; for regression the "
        "difference over max(1, |value|): absolute below 1, relative above.",
    )
    lift_alpha: float | None = Field(
        default=0.01,
        gt=0,
        lt=0.5,
        description="The lift over the baseline must hold at confidence 1 - alpha (the lower "
        "bound of a bootstrap interval on the held-out rows); null: the point lift only.",
    )
    bootstrap_rounds: int = Field(default=1000, ge=100, le=100_000)
    refuse_if_simple_model_wins: bool = Field(
        default=False,
        description="Refuse a candidate that does not beat the simple model (logistic or "
        "linear regression on the same split) by min_lift_over_simple_model.",
    )
    min_lift_over_simple_model: float = 0.0
    refuse_useless_features: bool = Field(
        default=False,
        description="Refuse a candidate with a feature whose permutation importance is <= 0.",
    )
    slice_min_rows: int = Field(
        default=30, ge=1, description="Slices with fewer held-out rows are reported, not gated."
    )
    slice_floor: float | None = Field(
        default=None,
        description="The metric every gated slice must reach (for RMSE/MAE: stay under).",
    )
    slice_max_regression: float | None = Field(
        default=0.05,
        ge=0,
        description="How far a gated slice may trail production's (for RMSE/MAE a fraction "
        "of production's value).",
    )
    max_equalized_odds_difference: float | None = Field(default=None, ge=0, le=1)
    max_demographic_parity_difference: float | None = Field(default=None, ge=0, le=1)

    def metric_for(self, task: Task) -> str:
        """The metric gated on for a task; a metric of the other task is a config error."""
        from mlops_template.training.evaluate import DEFAULT_METRIC, METRICS

        if self.metric is None:
            return DEFAULT_METRIC[task]
        if METRICS[self.metric].task != task:
            raise ConfigError(
                f"gate.metric {self.metric!r} is a {METRICS[self.metric].task} metric; this "
                f"model is {task}: use one of "
                f"{[m for m, spec in METRICS.items() if spec.task == task and m != 'log_loss']}"
            )
        return self.metric


class FeaturePolicy(_Strict):
    """What a person decided about the columns once; validation and the gate enforce it."""

    forbidden: list[str] = Field(
        default_factory=list, description="Columns that must never be features (rejected data)."
    )
    required: list[str] = Field(
        default_factory=list, description="Columns every data file must carry as features."
    )
    costly: list[str] = Field(
        default_factory=list,
        description="Features expensive to compute or keep: the evaluate step measures the "
        "candidate without them (ablation).",
    )
    slices: list[str] = Field(
        default_factory=list, description="Columns whose values are slices to report and gate."
    )
    sensitive: list[str] = Field(
        default_factory=list, description="Group columns for fairness metrics (fairlearn)."
    )
    importance_rows: int = Field(
        default=2000, ge=10, description="Held-out rows permutation importance reads at most."
    )
    importance_max_features: int = Field(
        default=200,
        ge=1,
        description="Wider tables skip permutation importance (one scoring pass per feature).",
    )
    quantile_bins: int = Field(default=4, ge=2, le=20)


class TuningConfig(_Strict):
    """A search over the model's hyperparameters by successive halving (scikit-learn)."""

    search_space: dict[str, list[Any]] = Field(
        default_factory=dict,
        description="Estimator parameter -> values to try; empty: no tuning.",
    )
    method: Literal["halving_random", "halving_grid"] = "halving_random"
    candidates: int = Field(default=8, ge=2, description="Random: how many to draw.")
    factor: int = Field(default=3, ge=2)
    cv: int = Field(default=3, ge=2, le=10)


class DriftConfig(_Strict):
    bins: int = Field(default=10, ge=2, le=100)
    psi_threshold: float = Field(default=0.2, gt=0)
    ks_pvalue: float = Field(default=0.01, gt=0, lt=1)
    drifted_share: float = Field(
        default=0.1, gt=0, le=1, description="Data drift when this share of features drifted."
    )
    min_rows: int = Field(default=30, ge=1)
    reference_sample: int = Field(default=2000, ge=100)


class TimeConfig(_Strict):
    """The table's time column: time-ordered splits, calendar features and freshness."""

    column: str | None = Field(
        default=None, description="The column holding each row's date or timestamp."
    )
    timezone: str = Field(
        default="UTC", description="The zone of naive timestamps (those without an offset)."
    )


class TimeSplitConfig(_Strict):
    """With `time.column` set: how the time column is checked and how models are evaluated
    over time (the most recent `test_size` share is the test set)."""

    backtest_folds: int = Field(
        default=5, ge=2, le=50, description="`mlops backtest`: folds moving forward in time."
    )
    future_tolerance_days: float = Field(
        default=1.0,
        ge=0,
        description="A date later than now plus this many days is an error in a data file.",
    )
    earliest: date = Field(
        default=date(1900, 1, 1), description="A date before this is out of range (an error)."
    )


class FeaturesFrom(_Strict):
    """Train from feature views: the data file the pipeline gets is then a label file (the
    entity keys, an event time, the target and any columns the caller sends at request time),
    and the validate step first joins it point in time against the offline feature store
    (docs/feature-store.md, "Training from views"). The definitions come from the feature
    repository file (MLOPS_FEATURE_REPO)."""

    views: list[str] = Field(
        min_length=1, description="The feature views whose features the model trains on."
    )
    entity_keys: list[str] = Field(
        default_factory=list,
        description="The label file's key columns; each view's join key must be one of them "
        "(default: the views' join keys).",
    )
    event_time: str = Field(
        default="event_timestamp",
        description="The label file's column saying when each label's features are taken: "
        "no feature value stamped after it is used.",
    )


class TrainingConfig(_Strict):
    model_name: ModelName = "model"
    target: str | None = None
    task: Task | None = Field(
        default=None,
        description="classification or regression; inferred from the target when not set "
        "(a numeric target with many distinct values is regression).",
    )
    prediction_interval: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="Regression: answer an interval meant to hold the truth this often (e.g. "
        "0.9), by split-conformal calibration on the held-out residuals.",
    )
    seed: int = 42
    test_size: float = Field(default=0.2, gt=0, lt=1)
    model: ModelConfig = Field(default_factory=ModelConfig)
    validation: ValidationThresholds = Field(default_factory=ValidationThresholds)
    gate: GateConfig = Field(default_factory=GateConfig)
    drift: DriftConfig = Field(default_factory=DriftConfig)
    features: FeaturePolicy = Field(default_factory=FeaturePolicy)
    tuning: TuningConfig = Field(default_factory=TuningConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    time: TimeConfig = Field(default_factory=TimeConfig)
    time_split: TimeSplitConfig = Field(default_factory=TimeSplitConfig)
    features_from: FeaturesFrom | None = Field(
        default=None,
        description="Build the training table from feature views (a label file comes in).",
    )

    def with_overrides(self, **changes: Any) -> TrainingConfig:
        data = self.model_dump()
        for key, value in changes.items():
            if value is None:
                continue
            node = data
            *parents, leaf = key.split(".")
            for part in parents:
                node = node[part]
            node[leaf] = value
        return TrainingConfig.model_validate(data)


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):  # an empty one adds no setting (params {} -> {depth: 6})
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def config_changes(old: TrainingConfig, new: TrainingConfig) -> list[str]:
    """What differs, one "path: old -> new" per setting (model.algorithm: 'a' -> 'b')."""
    before, after = _flatten(old.model_dump(mode="json")), _flatten(new.model_dump(mode="json"))
    return [
        f"{key}: {before.get(key)!r} -> {after.get(key)!r}"
        for key in sorted(before.keys() | after.keys())
        if before.get(key) != after.get(key)
    ]


def load_config(path: str | Path | None) -> TrainingConfig:
    if path is None:
        return TrainingConfig()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"config {path} is not valid {path.suffix[1:] or 'JSON'}: {exc}") from exc
    return parse_config(data, source=str(path))


def parse_config(data: dict[str, Any], source: str = "config") -> TrainingConfig:
    try:
        return TrainingConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source} is invalid: {one_line(exc)}") from exc


def one_line(exc: ValidationError, env_prefix: str = "") -> str:
    """A pydantic error as `field: reason; ...`, not its multi-line rendering (fields named as
    environment variables when `env_prefix` is given)."""
    problems = []
    for e in exc.errors():
        field = ".".join(str(p) for p in e["loc"])
        field = f"{env_prefix}{field}".upper() if env_prefix else field
        message = e["msg"].removeprefix("Value error, ")
        problems.append(f"{field}: {message}" if field else message)
    return "; ".join(problems)
