"""Time-ordered evaluation: train on the past, test on the most recent rows; and backtests.

A hash split (`train.split_by_hash`) suits rows that are exchangeable. When the rows are moments
of one process (sales by day, delays by hour), it tests a model on days that lie between its
training days, which it has half-seen through their neighbours: the score is better than any
forecast will be. With `time.column` set the test set is the most recent `test_size` share
instead, and `backtest` repeats that at several points in time (rolling origin).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mlops_template.training.config import TrainingConfig
from mlops_template.training.schema import ColumnSchema, DatasetSchema, SchemaError

if TYPE_CHECKING:
    import pandas as pd


def time_column(schema: DatasetSchema, name: str) -> ColumnSchema:
    """The configured time column, which the schema must hold as a date column."""
    try:
        column = schema.column(name)
    except KeyError:
        raise SchemaError(
            f"time.column {name!r} is not a feature of the schema (features: "
            f"{schema.feature_names}); infer the schema with it"
        ) from None
    if column.kind != "datetime":
        raise SchemaError(
            f"time.column {name!r} is a {column.kind} column in the schema, not a date column"
        )
    return column


def row_times(frame: pd.DataFrame, column: ColumnSchema) -> np.ndarray:
    """Each row's wall-clock seconds (NaN where missing)."""
    from mlops_template.training import timefeatures

    wall, _ = timefeatures.seconds(
        frame[column.name].tolist(), column.format or timefeatures.ISO, column.timezone or "UTC"
    )
    return wall


def split_by_time(
    frame: pd.DataFrame, column: ColumnSchema, test_size: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The oldest rows to train on, the most recent `test_size` share to test on.

    Rows of one moment stay on one side (a day is never half in each). Rows without a time are
    trained on: there is no saying they are recent.
    """
    wall = row_times(frame, column)
    known = np.sort(wall[np.isfinite(wall)])
    if not len(known):
        raise SchemaError(f"time column {column.name!r} has no values")
    cut = known[min(len(known) - 1, len(known) - max(1, math.ceil(len(known) * test_size)))]
    with np.errstate(invalid="ignore"):
        in_test = wall >= cut
    return frame[~in_test], frame[in_test]


@dataclass(frozen=True)
class Fold:
    """One step of a backtest: trained on everything before `start`, tested up to `end`."""

    fold: int
    train_rows: int
    test_rows: int
    start: str
    end: str
    value: float
    baseline: float


@dataclass(frozen=True)
class Backtest:
    metric: str
    folds: list[Fold]

    @property
    def mean(self) -> float:
        return float(np.mean([f.value for f in self.folds]))

    @property
    def spread(self) -> float:
        """The standard deviation of the metric over the folds."""
        return float(np.std([f.value for f in self.folds]))


def backtest(
    frame: pd.DataFrame, schema: DatasetSchema, config: TrainingConfig, folds: int | None = None
) -> Backtest:
    """Rolling-origin evaluation: the rows in time order cut into `folds` + 1 blocks; fold k
    trains on blocks 1..k and tests on block k + 1 (the model as it would have been deployed
    then, scored on what came next). `frame` is a validated, typed frame (`coerce_frame`)."""
    from mlops_template.training import timefeatures
    from mlops_template.training.evaluate import baseline_metrics, model_metrics
    from mlops_template.training.features import build_pipeline, encodes_labels, model_inputs

    if config.time.column is None:
        raise SchemaError("a backtest needs a time column: set time.column in the config")
    folds = folds or config.time_split.backtest_folds
    column = time_column(schema, config.time.column)
    target = schema.target
    regression = target.task == "regression"
    metric = config.gate.metric_for(target.task)
    wall = row_times(frame, column)
    present = np.isfinite(wall)
    frame, wall = frame[present], wall[present]
    moments = np.unique(wall)
    if len(moments) < folds + 1:
        raise SchemaError(
            f"{len(moments)} distinct times in {column.name!r}: too few for {folds} folds"
        )
    # Block edges on distinct times, so one moment's rows stay in one block.
    edges = [moments[round(i * len(moments) / (folds + 1))] for i in range(folds + 1)]
    edges.append(math.inf)
    results: list[Fold] = []

    def shown(wall: float) -> str:
        text = timefeatures.iso_text(wall)
        return text[:10] if column.dtype == "date" else text

    for k in range(1, folds + 1):
        train_rows = frame[wall < edges[k]]
        test_rows = frame[(wall >= edges[k]) & (wall < edges[k + 1])]
        y_train = train_rows[target.name] if regression else train_rows[target.name].astype(str)
        y_test = test_rows[target.name] if regression else test_rows[target.name].astype(str)
        if not regression and (y_train.nunique() < len(target.classes) or y_test.nunique() < 2):
            continue  # a fold missing a class cannot be scored on this metric
        pipeline = build_pipeline(schema, config.model, config.seed)
        fit_y = y_train
        if not regression and encodes_labels(pipeline):
            fit_y = y_train.map(target.classes.index)
        pipeline.fit(model_inputs(train_rows, schema), fit_y)
        inputs = model_inputs(test_rows, schema)
        outputs = pipeline.predict(inputs) if regression else pipeline.predict_proba(inputs)
        scored = model_metrics(y_test.tolist(), outputs, target)
        baseline = baseline_metrics(y_train.tolist(), y_test.tolist(), target)
        test_times = wall[(wall >= edges[k]) & (wall < edges[k + 1])]
        results.append(
            Fold(
                fold=k,
                train_rows=len(train_rows),
                test_rows=len(test_rows),
                start=shown(float(test_times.min())),
                end=shown(float(test_times.max())),
                value=scored[metric],
                baseline=baseline[metric],
            )
        )
    if not results:
        raise SchemaError("no fold holds every class in its training rows and two in its test")
    return Backtest(metric=metric, folds=results)
