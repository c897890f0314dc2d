"""Training: split, fit, evaluate against the baseline, export to ONNX, profile the data.

The same data, config and seed give the same metrics and the same model bytes (and hash).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel

from mlops_template.training import conformal
from mlops_template.training.config import TrainingConfig
from mlops_template.training.drift import ReferenceProfile, build_profile, numeric_profile
from mlops_template.training.evaluate import baseline_metrics, model_metrics
from mlops_template.training.export import (
    UnconvertibleStepError,
    check_convertible,
    export_onnx,
    float32_thresholds,
    parity_error,
)
from mlops_template.training.features import (
    build_pipeline,
    encodes_labels,
    factory_version,
    model_inputs,
)
from mlops_template.training.files import (
    HOLDOUT_FILE,
    MANIFEST_FILE,
    MODEL_FILE,
    PROFILE_FILE,
    SCHEMA_FILE,
)
from mlops_template.training.onnx_model import INTERVAL_COVERAGE, INTERVAL_HALF_WIDTH
from mlops_template.training.provenance import code_version, library_versions
from mlops_template.training.schema import DatasetSchema
from mlops_template.training.spreadsheet import to_spreadsheet_csv
from mlops_template.training.tuning import tune

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from sklearn.pipeline import Pipeline


class TrainingError(ValueError):
    """Training could not produce a model from this data and config."""


class RunManifest(BaseModel):
    """Everything needed to reproduce and audit one training run."""

    model_name: str
    task: str = "classification"
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    parity_error: float
    data_sha256: str
    model_sha256: str
    rows_train: int
    rows_test: int
    config: dict[str, Any]
    code_version: str
    library_versions: dict[str, str]
    factory: dict[str, str] | None = None  # the team's own model: import path and version
    timings: dict[str, float]
    artifacts: dict[str, str] = {}  # file name -> SHA-256
    config_sha256: str = ""  # of the config as given (before tuning filled in its params)
    # The lift's confidence bound, the simple model, importance, ablation, tuning (assessment.py).
    assessment: dict[str, Any] = {}


@dataclass
class TrainingRun:
    pipeline: Pipeline
    onnx_bytes: bytes
    schema: DatasetSchema
    profile: ReferenceProfile
    holdout: pd.DataFrame
    manifest: RunManifest
    files: dict[str, bytes] = field(default_factory=dict)

    def artifact_bytes(self) -> dict[str, bytes]:
        """The files a run produces, by name: what gets uploaded and registered."""
        if not self.files:
            self.files = {
                MODEL_FILE: self.onnx_bytes,
                SCHEMA_FILE: self.schema.to_json().encode(),
                PROFILE_FILE: self.profile.model_dump_json().encode(),
                # Exported with the version for people to inspect: no cell runs as a formula.
                HOLDOUT_FILE: to_spreadsheet_csv(self.holdout),
            }
            self.manifest.artifacts = {n: sha256(b) for n, b in self.files.items()}
        return self.files

    def write(self, directory: str | Path) -> Path:
        """Write the artifacts and manifest.json into a directory (the SageMaker model dir)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for name, data in self.artifact_bytes().items():
            (directory / name).write_bytes(data)
        (directory / MANIFEST_FILE).write_text(self.manifest.model_dump_json(indent=2))
        return directory


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def split_by_hash(frame: pd.DataFrame, test_size: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split rows by a hash of their content, not at random.

    A row lands in the same split in every run, so when data grows the test set of a new model
    holds no row the production model trained on: comparing them on it is fair, and identical
    rows can never sit on both sides.
    """
    import pandas as pd

    hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    # uint64 -> [0, 1): the low bits are as uniform as the high ones for this hash.
    position = (hashes % 1_000_003) / 1_000_003
    in_test = position < test_size
    return frame[~in_test], frame[in_test]


def split(
    frame: pd.DataFrame, schema: DatasetSchema, config: TrainingConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """By time when the config names a time column (the most recent rows are the test set, so
    the gate compares candidate and production on them), else by hash."""
    if config.time.column is None:
        return split_by_hash(frame, config.test_size)
    from mlops_template.training.schema import SchemaError
    from mlops_template.training.timesplit import split_by_time, time_column

    try:
        column = time_column(schema, config.time.column)
    except SchemaError as exc:
        raise TrainingError(str(exc)) from exc
    return split_by_time(frame, column, config.test_size)


def config_sha256(config: TrainingConfig) -> str:
    """The config's content hash (canonical JSON): the same settings, the same hash."""
    return sha256(json.dumps(config.model_dump(mode="json"), sort_keys=True).encode())


def no_skill_outputs(
    metric: str, schema: DatasetSchema, train_targets: list[Any], rows: int
) -> np.ndarray:
    """What the no-skill baseline answers for `rows` rows: the training class frequencies, or
    the training mean (the median for MAE, which it minimises) for a regression."""
    import numpy as np

    if schema.target.task == "regression":
        values = np.asarray(train_targets, dtype=np.float64)
        constant = np.median(values) if metric == "mae" else values.mean()
        return np.full(rows, constant)
    labels = [str(v) for v in train_targets]
    prior = np.array([labels.count(c) / len(labels) for c in schema.target.classes])
    return np.tile(prior, (rows, 1))


def assess_lift(
    config: TrainingConfig,
    schema: DatasetSchema,
    test_y: list[Any],
    outputs: np.ndarray,
    train_targets: list[Any],
) -> dict[str, Any] | None:
    """The lift over the no-skill baseline with its lower bound (paired bootstrap)."""
    from mlops_template.training.assessment import bootstrap_lift

    if config.gate.lift_alpha is None:
        return None
    metric = config.gate.metric_for(schema.target.task)
    return bootstrap_lift(
        metric,
        test_y,
        outputs,
        no_skill_outputs(metric, schema, train_targets, len(test_y)),
        schema.target,
        rounds=config.gate.bootstrap_rounds,
        alpha=config.gate.lift_alpha,
        seed=config.seed,
    )


def assess(
    pipeline: Pipeline,
    onnx_bytes: bytes,
    schema: DatasetSchema,
    config: TrainingConfig,
    train_x: pd.DataFrame,
    train_y: pd.Series,
    test_frame: pd.DataFrame,
    outputs: np.ndarray,
    train_targets: list[Any],
) -> dict[str, Any]:
    """What the gate weighs beyond the metric (see `training.assessment`), for either task:
    `outputs` are the candidate's class probabilities or values on the held-out rows."""

    from mlops_template.training import assessment as a

    target, metric = schema.target, config.gate.metric_for(schema.target.task)
    test_x = model_inputs(test_frame, schema)
    if target.task == "regression":
        test_y = test_frame[target.name].astype(float).tolist()
    else:
        test_y = test_frame[target.name].astype(str).tolist()
    out: dict[str, Any] = {}
    lift = assess_lift(config, schema, test_y, outputs, train_targets)
    if lift is not None:
        out["lift"] = lift
    candidate = {
        "metric": a.metric_value(metric, test_y, outputs, target),
        **a.onnx_size_and_latency(pipeline, schema, test_x, onnx_bytes),
    }
    out["simple_model"] = a.simple_model_comparison(
        schema, config, train_x, train_y, test_x, test_y, candidate
    )
    if len(schema.feature_names) <= config.features.importance_max_features:
        importance = a.permutation_importances(
            pipeline,
            schema,
            test_x,
            test_y,
            metric,
            max_rows=config.features.importance_rows,
            seed=config.seed,
        )
    else:
        importance = {
            "skipped": f"{len(schema.feature_names)} features, over "
            f"features.importance_max_features ({config.features.importance_max_features})",
            "features": {},
            "useless": [],
        }
    out["importance"] = importance
    groups = {"without_costly": config.features.costly, "without_useless": importance["useless"]}
    out["ablation"] = a.ablation(
        schema,
        config,
        lambda smaller: build_pipeline(smaller, config.model, config.seed),
        train_x,
        train_y,
        test_x,
        test_y,
        candidate,
        groups,
    )
    return out


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    timings[name] = round(time.perf_counter() - start, 4)


def train(
    frame: pd.DataFrame,
    schema: DatasetSchema,
    config: TrainingConfig,
    *,
    data_sha256: str,
) -> TrainingRun:
    """Train on a validated, typed frame (see `mlops_template.training.validation.coerce_frame`)."""
    target = schema.target.name
    regression = schema.target.task == "regression"
    timings: dict[str, float] = {}
    with _timed(timings, "split"):
        train_frame, test_frame = split(frame, schema, config)
    for part, rows in (("training", train_frame), ("test", test_frame)):
        distinct = rows[target].astype(str).nunique()
        if distinct < 2:
            noun = "distinct target value" if regression else "class"
            plural = "distinct target values" if regression else "classes"
            raise TrainingError(
                f"the {part} split has {len(rows)} rows and {distinct} {noun}(s); "
                f"training needs more data with at least two {plural}"
            )
    given_config_sha256 = config_sha256(config)
    pipeline = build_pipeline(schema, config.model, config.seed)
    try:
        check_convertible(pipeline)
    except UnconvertibleStepError as exc:
        raise TrainingError(str(exc)) from exc
    train_x = model_inputs(train_frame, schema)
    train_y = train_frame[target] if regression else train_frame[target].astype(str)
    fit_y = train_y
    if not regression and encodes_labels(pipeline):
        fit_y = train_y.map(schema.target.classes.index)
    tuning: dict[str, Any] = {}
    if config.tuning.search_space:
        with _timed(timings, "tune"):
            pipeline, tuning = tune(pipeline, config, train_x, fit_y, schema.target)
        # The chosen parameters become the run's config: what the version records and reproduces.
        config = config.with_overrides(
            **{"model.params": {**config.model.params, **tuning["best_params"]}}
        )
        float32_thresholds(pipeline)
    else:
        with _timed(timings, "fit"):
            pipeline.fit(train_x, fit_y)
            float32_thresholds(pipeline)
    if not regression:
        fitted = [str(c) for c in pipeline.classes_]
        if encodes_labels(pipeline):
            fitted = [schema.target.classes[int(c)] for c in pipeline.classes_]
        if fitted != schema.target.classes:
            raise TrainingError(
                f"training data has classes {fitted}, schema expects {schema.target.classes}"
            )
    metadata: dict[str, str] = {}
    with _timed(timings, "evaluate"):
        test_inputs = model_inputs(test_frame, schema)
        outputs = (
            pipeline.predict(test_inputs) if regression else pipeline.predict_proba(test_inputs)
        )
        metrics = model_metrics(test_frame[target].tolist(), outputs, schema.target)
        baseline = baseline_metrics(
            train_frame[target].tolist(), test_frame[target].tolist(), schema.target
        )
        if regression and config.prediction_interval is not None:
            try:
                width = conformal.half_width(
                    test_frame[target], outputs, config.prediction_interval
                )
            except ValueError as exc:
                raise TrainingError(f"prediction_interval: {exc}") from exc
            metadata = {
                INTERVAL_HALF_WIDTH: repr(width),
                INTERVAL_COVERAGE: repr(config.prediction_interval),
            }
    with _timed(timings, "export_onnx"):
        onnx_bytes = export_onnx(pipeline, schema, metadata)
        parity = parity_error(pipeline, onnx_bytes, test_frame, schema)
    with _timed(timings, "profile"):
        profile = build_profile(train_frame, schema, config.drift, seed=config.seed)
        if regression:
            predicted = pipeline.predict(train_x)
            rng = np.random.default_rng(config.seed)
            profile.predictions = numeric_profile("prediction", predicted, config.drift, rng)
    with _timed(timings, "assess"):
        assessment = assess(
            pipeline,
            onnx_bytes,
            schema,
            config,
            train_x,
            fit_y,  # encoded for libraries that take class indices (XGBoost)
            test_frame,
            outputs,
            train_frame[target].tolist(),
        )
    if tuning:
        assessment["tuning"] = tuning
    manifest = RunManifest(
        model_name=config.model_name,
        task=schema.target.task,
        metrics={k: round(v, 6) for k, v in metrics.items()},
        baseline_metrics={k: round(v, 6) for k, v in baseline.items()},
        parity_error=parity,
        data_sha256=data_sha256,
        model_sha256=sha256(onnx_bytes),
        rows_train=len(train_frame),
        rows_test=len(test_frame),
        config=json.loads(config.model_dump_json()),
        code_version=code_version(),
        library_versions=library_versions(),
        factory=(
            {"path": config.model.factory, "version": factory_version(config.model.factory)}
            if config.model.factory
            else None
        ),
        timings=timings,
        config_sha256=given_config_sha256,
        assessment=assessment,
    )
    run = TrainingRun(
        pipeline=pipeline,
        onnx_bytes=onnx_bytes,
        schema=schema,
        profile=profile,
        holdout=test_frame.reset_index(drop=True),
        manifest=manifest,
    )
    run.artifact_bytes()
    return run
