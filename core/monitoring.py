"""Monitoring: live inputs against the training reference profile, and feedback accuracy (or,
for a regression, feedback RMSE/MAE and the drift of the predictions' own distribution).

Each run reads every capture of its window (the last `window` up to now) of the version the
stage serves: the capture objects of that version's date partitions, streamed and binned as
they are read (training.drift.DriftCounts), several objects at once with their partial counts
merged, so memory stays the same whatever the traffic. Feedback is joined by prediction id.
Publishes the figures the alarms watch, and how many captures it read. Dimensions are model
and stage, not version, so an alarm keeps watching whatever version the stage serves.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import islice

from pydantic import BaseModel, Field

from mlops_template.core.abtest import AbTestStatus, load_plan, publish, window_status
from mlops_template.core.artifacts import read_verified
from mlops_template.core.backend import Backend
from mlops_template.core.canary import CanaryVerdict, advance_canary, check_canary
from mlops_template.core.captures import CapturePart
from mlops_template.core.features.skew import FeatureSkewReport, feature_skew
from mlops_template.core.freshness import FreshnessReport, publish_freshness
from mlops_template.core.health_checks import SKEW_SAMPLE, HealthReport, run_health_checks
from mlops_template.core.ports import PredictionLog
from mlops_template.core.registry import RegistryError
from mlops_template.training.config import DriftConfig
from mlops_template.training.drift import (
    DriftCounts,
    DriftReport,
    FeatureDrift,
    ReferenceProfile,
    WindowDrift,
    WindowedDriftCounts,
)
from mlops_template.training.files import PROFILE_FILE

DRIFT_SHARE_METRIC = "DataDriftShare"
DRIFT_DETECTED_METRIC = "DataDriftDetected"
MAX_PSI_METRIC = "MaxFeaturePSI"
FEEDBACK_ACCURACY_METRIC = "FeedbackAccuracy"
FEEDBACK_COUNT_METRIC = "FeedbackCount"
FEEDBACK_RMSE_METRIC = "FeedbackRMSE"
FEEDBACK_MAE_METRIC = "FeedbackMAE"
PREDICTION_PSI_METRIC = "PredictionDriftPSI"
PREDICTION_DRIFT_METRIC = "PredictionDriftDetected"
CAPTURES_READ_METRIC = "MonitoredCaptures"
WINDOW_DRIFT_SHARE_METRIC = "LatestWindowDriftShare"

DEFAULT_WINDOW = timedelta(hours=24)
# Objects read at once: reading is mostly waiting on storage, so threads overlap it.
READ_WORKERS = 4


class MonitorResult(BaseModel):
    model: str
    stage: str
    version: int
    captured: int = Field(description="Captures of this version read: every one in the window.")
    window_start: str = ""
    window_end: str = ""
    objects: int = Field(default=0, description="Capture objects the window's partitions held.")
    drift: DriftReport
    feedback_count: int
    feedback_accuracy: float | None
    feedback_rmse: float | None = None
    feedback_mae: float | None = None
    prediction_drift: FeatureDrift | None = None
    abtest: AbTestStatus | None = None
    health: HealthReport | None = None
    canary: CanaryVerdict | None = None
    feature_skew: FeatureSkewReport | None = None
    freshness: FreshnessReport | None = None
    drift_windows: list[WindowDrift] = Field(
        default_factory=list, description="Drift per drift window, oldest first (when asked)."
    )


@dataclass
class WindowScan:
    """What one pass over a window's captures found; partial scans (one per object) add up."""

    drift: DriftCounts
    captured: int = 0
    labelled: int = 0
    correct: int = 0
    objects: int = 0
    # Regression: the predicted values binned against the training predictions' profile, and
    # the feedback errors' sums (RMSE and MAE need nothing else).
    predictions: DriftCounts | None = None
    squared_error: float = 0.0
    absolute_error: float = 0.0
    # Drift per time window (e.g. week by week) besides the whole window's, when asked.
    windows: WindowedDriftCounts | None = None

    def merge(self, other: WindowScan) -> WindowScan:
        self.drift.merge(other.drift)
        if self.windows is not None and other.windows is not None:
            self.windows.merge(other.windows)
        if self.predictions is not None and other.predictions is not None:
            self.predictions.merge(other.predictions)
        self.captured += other.captured
        self.labelled += other.labelled
        self.correct += other.correct
        self.objects += other.objects
        self.squared_error += other.squared_error
        self.absolute_error += other.absolute_error
        return self

    @property
    def rmse(self) -> float | None:
        return math.sqrt(self.squared_error / self.labelled) if self.labelled else None

    @property
    def mae(self) -> float | None:
        return self.absolute_error / self.labelled if self.labelled else None


def _new_scan(
    profile: ReferenceProfile,
    objects: int = 0,
    windows: tuple[datetime, timedelta] | None = None,
) -> WindowScan:
    predictions = None
    if profile.predictions is not None:
        only = ReferenceProfile(rows=profile.rows, features=[profile.predictions])
        predictions = DriftCounts(only)
    binned = None
    if windows is not None:
        binned = WindowedDriftCounts(profile, windows[0], windows[1].total_seconds())
    return WindowScan(
        DriftCounts(profile), objects=objects, predictions=predictions, windows=binned
    )


def _scan_part(
    log: PredictionLog,
    profile: ReferenceProfile,
    labels: Mapping[str, str],
    start: datetime,
    end: datetime,
    windows: tuple[datetime, timedelta] | None,
    part: CapturePart,
) -> WindowScan:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    scan = _new_scan(profile, objects=1, windows=windows)
    numeric = [f.name for f in profile.features if f.kind == "numeric"]
    categorical = [f.name for f in profile.features if f.kind != "numeric"]
    known = pa.array(list(labels), pa.string())
    for block in log.columns(part, numeric, categorical, start, end):
        scan.captured += block.rows
        scan.drift.add(block.features)
        if scan.windows is not None:
            scan.windows.add(block.features, block.at.to_numpy(zero_copy_only=False))
        regression = scan.predictions is not None and block.values is not None
        if scan.predictions is not None and block.values is not None:
            name = scan.predictions.profile.features[0].name
            scan.predictions.add({name: block.values.to_numpy(zero_copy_only=False)})
        if not labels:
            continue
        # Feedback is rare: only the rows that have one leave the columns.
        has = pc.is_in(block.prediction_ids, value_set=known)
        ids = pc.filter(block.prediction_ids, has).to_pylist()
        if regression:
            values = pc.filter(block.values, has).to_numpy(zero_copy_only=False)
            truth = np.array([_number(labels[i]) for i in ids], dtype=float)
            errors = values - truth
            errors = errors[np.isfinite(errors)]  # a missing value or unreadable truth
            scan.labelled += len(errors)
            scan.squared_error += float(np.sum(errors**2))
            scan.absolute_error += float(np.sum(np.abs(errors)))
        else:
            predicted = pc.filter(block.labels, has).to_pylist()
            scan.labelled += len(ids)
            scan.correct += sum(p == labels[i] for i, p in zip(ids, predicted, strict=True))
    return scan


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def scan_window(
    log: PredictionLog,
    model: str,
    version: int,
    profile: ReferenceProfile,
    start: datetime,
    end: datetime,
    *,
    workers: int = READ_WORKERS,
    drift_window: timedelta | None = None,
) -> WindowScan:
    """Every capture of `version` in [start, end): drift counts, feedback joined by id; with
    `drift_window`, drift counts per window of that length too, counted from `start`."""
    labels = log.feedback(model, since=start.isoformat())
    parts = [p for p in log.parts(model, start, end) if p.version == version]
    windows = (start, drift_window) if drift_window else None
    read = partial(_scan_part, log, profile, labels, start, end, windows)
    total = _new_scan(profile, windows=windows)
    with ThreadPoolExecutor(max(1, workers)) as pool:
        for scan in pool.map(read, parts):
            total.merge(scan)
    return total


def run_monitor(
    backend: Backend,
    model: str,
    *,
    stage: str = "production",
    window: timedelta = DEFAULT_WINDOW,
    end: datetime | None = None,
    config: DriftConfig | None = None,
    workers: int = READ_WORKERS,
    apply_canary: bool = False,
    drift_window: timedelta | None = None,
    now: datetime | None = None,
) -> MonitorResult:
    """One monitoring run over [end - window, end). `drift_window` (e.g. 7 days) adds drift per
    window of that length; `now` is when the freshness ages are counted to (default: the
    clock, not `end`: a run over a past window still says how old the data is today)."""
    current = backend.registry.current(model, stage)
    if current is None:
        raise RegistryError(f"no version of {model} is in {stage}: nothing to monitor")
    config = config or DriftConfig.model_validate(current.config.get("drift", {}))
    profile = ReferenceProfile.model_validate_json(
        read_verified(backend.artifacts, current.artifacts[PROFILE_FILE])
    )
    end = end or datetime.now(UTC)
    start = end - window
    scan = scan_window(
        backend.predictions,
        model,
        current.version,
        profile,
        start,
        end,
        workers=workers,
        drift_window=drift_window,
    )
    drift = scan.drift.report(config)
    regression = scan.predictions is not None
    accuracy = scan.correct / scan.labelled if scan.labelled and not regression else None
    rmse, mae = (scan.rmse, scan.mae) if regression else (None, None)
    prediction_drift = None
    if scan.predictions is not None:
        found = scan.predictions.report(config).features
        prediction_drift = found[0] if found else None

    dims = {"model": model, "stage": stage}
    backend.metrics.put(CAPTURES_READ_METRIC, scan.captured, unit="Count", dimensions=dims)
    if drift.enough_data:
        backend.metrics.put(DRIFT_SHARE_METRIC, drift.drifted_share, dimensions=dims)
        backend.metrics.put(DRIFT_DETECTED_METRIC, float(drift.drift_detected), dimensions=dims)
        backend.metrics.put(MAX_PSI_METRIC, drift.max_psi, dimensions=dims)
        if prediction_drift is not None:
            backend.metrics.put(PREDICTION_PSI_METRIC, prediction_drift.psi, dimensions=dims)
            backend.metrics.put(
                PREDICTION_DRIFT_METRIC, float(prediction_drift.drifted), dimensions=dims
            )
    backend.metrics.put(FEEDBACK_COUNT_METRIC, scan.labelled, unit="Count", dimensions=dims)
    if accuracy is not None:
        backend.metrics.put(FEEDBACK_ACCURACY_METRIC, accuracy, dimensions=dims)
    if rmse is not None and mae is not None:
        backend.metrics.put(FEEDBACK_RMSE_METRIC, rmse, unit="None", dimensions=dims)
        backend.metrics.put(FEEDBACK_MAE_METRIC, mae, unit="None", dimensions=dims)
    # Model age, training/serving skew, non-finite outputs, offline-online gap.
    # The skew check re-scores a bounded sample: the first SKEW_SAMPLE captures of this version
    # in the window (the iterator stops there; the window is never held).
    sample = list(
        islice(
            (
                record
                for record in backend.predictions.window(model, start, end, labels={})
                if record.version == current.version
            ),
            SKEW_SAMPLE,
        )
    )
    health = run_health_checks(backend, current, sample, accuracy, scan.labelled, stage=stage)
    freshness = publish_freshness(backend.data, backend.metrics, current, stage=stage, now=now)
    windows = scan.windows.reports(config) if scan.windows is not None else []
    if windows:  # the newest window's figures, beside the whole window's
        newest = windows[-1]
        if newest.enough_data:
            backend.metrics.put(WINDOW_DRIFT_SHARE_METRIC, newest.drifted_share, dimensions=dims)
    # Entity records of the same sample: served feature values against the offline history.
    skew = feature_skew(backend, current, sample, dimensions=dims)
    canary = None
    if stage == "production":  # a canary release's verdict; applied here only when asked
        canary = (advance_canary if apply_canary else check_canary)(backend, model)
    abtest = None
    plan = load_plan(backend.artifacts, model) if stage == "production" else None
    if plan is not None:  # an A/B test is running: per-variant figures and the decision so far
        # Every capture since the test started, read as the window above (bounded memory).
        abtest = window_status(backend.predictions, plan, end)
        publish(backend, abtest)
    return MonitorResult(
        model=model,
        stage=stage,
        version=current.version,
        captured=scan.captured,
        window_start=start.isoformat(),
        window_end=end.isoformat(),
        objects=scan.objects,
        drift=drift,
        feedback_count=scan.labelled,
        feedback_accuracy=accuracy,
        feedback_rmse=rmse,
        feedback_mae=mae,
        prediction_drift=prediction_drift,
        abtest=abtest,
        health=health,
        canary=canary,
        feature_skew=skew,
        freshness=freshness,
        drift_windows=windows,
    )
