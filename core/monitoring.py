"""Monitoring: live inputs against the training reference profile, and feedback accuracy (or,
for a regression, feedback RMSE/MAE and the drift of the predictions' own distribution).

Publishes the figures the alarms watch. Dimensions are model and stage, not version, so an
alarm keeps watching whatever version the stage serves.
"""

from __future__ import annotations

import math

from pydantic import BaseModel

from mlops_template.core.abtest import CAPTURE_LIMIT, AbTestStatus, load_plan, publish, status_of
from mlops_template.core.artifacts import read_verified
from mlops_template.core.backend import Backend
from mlops_template.core.registry import RegistryError
from mlops_template.training.config import DriftConfig
from mlops_template.training.drift import (
    DriftReport,
    FeatureDrift,
    ReferenceProfile,
    compare,
    numeric_drift,
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


class MonitorResult(BaseModel):
    model: str
    stage: str
    version: int
    captured: int
    drift: DriftReport
    feedback_count: int
    feedback_accuracy: float | None
    feedback_rmse: float | None = None
    feedback_mae: float | None = None
    prediction_drift: FeatureDrift | None = None
    abtest: AbTestStatus | None = None


def run_monitor(
    backend: Backend,
    model: str,
    *,
    stage: str = "production",
    limit: int = 5000,
    config: DriftConfig | None = None,
) -> MonitorResult:
    current = backend.registry.current(model, stage)
    if current is None:
        raise RegistryError(f"no version of {model} is in {stage}: nothing to monitor")
    config = config or DriftConfig.model_validate(current.config.get("drift", {}))
    recent = backend.predictions.recent(model, limit=limit)
    captured = [p for p in recent if p.version == current.version and p.stage != "shadow"]
    profile = ReferenceProfile.model_validate_json(
        read_verified(backend.artifacts, current.artifacts[PROFILE_FILE])
    )
    columns = {f.name: [p.features.get(f.name) for p in captured] for f in profile.features}
    drift = compare(profile, columns, config)
    labeled = [p for p in captured if p.true_label is not None]
    regression = profile.predictions is not None
    accuracy = rmse = mae = None
    prediction_drift = None
    if regression:
        if labeled:
            errors = [(p.value or 0.0) - (p.true_value or 0.0) for p in labeled]
            rmse = math.sqrt(sum(e * e for e in errors) / len(errors))
            mae = sum(abs(e) for e in errors) / len(errors)
        assert profile.predictions is not None
        prediction_drift = numeric_drift(profile.predictions, [p.value for p in captured], config)
    elif labeled:
        accuracy = sum(p.label == p.true_label for p in labeled) / len(labeled)

    dims = {"model": model, "stage": stage}
    if drift.enough_data:
        backend.metrics.put(DRIFT_SHARE_METRIC, drift.drifted_share, dimensions=dims)
        backend.metrics.put(DRIFT_DETECTED_METRIC, float(drift.drift_detected), dimensions=dims)
        backend.metrics.put(MAX_PSI_METRIC, drift.max_psi, dimensions=dims)
        if prediction_drift is not None:
            backend.metrics.put(PREDICTION_PSI_METRIC, prediction_drift.psi, dimensions=dims)
            backend.metrics.put(
                PREDICTION_DRIFT_METRIC, float(prediction_drift.drifted), dimensions=dims
            )
    backend.metrics.put(FEEDBACK_COUNT_METRIC, len(labeled), unit="Count", dimensions=dims)
    if accuracy is not None:
        backend.metrics.put(FEEDBACK_ACCURACY_METRIC, accuracy, dimensions=dims)
    if rmse is not None and mae is not None:
        backend.metrics.put(FEEDBACK_RMSE_METRIC, rmse, unit="None", dimensions=dims)
        backend.metrics.put(FEEDBACK_MAE_METRIC, mae, unit="None", dimensions=dims)
    abtest = None
    plan = load_plan(backend.artifacts, model) if stage == "production" else None
    if plan is not None:  # an A/B test is running: per-variant figures and the decision so far
        # Every capture since the test started, not only the newest `limit`.
        abtest = status_of(plan, backend.predictions.recent(model, limit=CAPTURE_LIMIT))
        publish(backend, abtest)
    return MonitorResult(
        model=model,
        stage=stage,
        version=current.version,
        captured=len(captured),
        drift=drift,
        feedback_count=len(labeled),
        feedback_accuracy=accuracy,
        feedback_rmse=rmse,
        feedback_mae=mae,
        prediction_drift=prediction_drift,
        abtest=abtest,
    )
