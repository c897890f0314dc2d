"""Monitoring: live inputs against the training reference profile, and feedback accuracy.

Publishes the figures the alarms watch. Dimensions are model and stage, not version, so an
alarm keeps watching whatever version the stage serves.
"""

from __future__ import annotations

from pydantic import BaseModel

from mlops_template.core.abtest import CAPTURE_LIMIT, AbTestStatus, load_plan, publish, status_of
from mlops_template.core.artifacts import read_verified
from mlops_template.core.backend import Backend
from mlops_template.core.canary import CanaryVerdict, advance_canary, check_canary
from mlops_template.core.health_checks import HealthReport, run_health_checks
from mlops_template.core.registry import RegistryError
from mlops_template.training.config import DriftConfig
from mlops_template.training.drift import DriftReport, ReferenceProfile, compare
from mlops_template.training.files import PROFILE_FILE

DRIFT_SHARE_METRIC = "DataDriftShare"
DRIFT_DETECTED_METRIC = "DataDriftDetected"
MAX_PSI_METRIC = "MaxFeaturePSI"
FEEDBACK_ACCURACY_METRIC = "FeedbackAccuracy"
FEEDBACK_COUNT_METRIC = "FeedbackCount"


class MonitorResult(BaseModel):
    model: str
    stage: str
    version: int
    captured: int
    drift: DriftReport
    feedback_count: int
    feedback_accuracy: float | None
    abtest: AbTestStatus | None = None
    health: HealthReport | None = None
    canary: CanaryVerdict | None = None


def run_monitor(
    backend: Backend,
    model: str,
    *,
    stage: str = "production",
    limit: int = 5000,
    config: DriftConfig | None = None,
    apply_canary: bool = False,
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
    accuracy = (sum(p.label == p.true_label for p in labeled) / len(labeled)) if labeled else None

    dims = {"model": model, "stage": stage}
    if drift.enough_data:
        backend.metrics.put(DRIFT_SHARE_METRIC, drift.drifted_share, dimensions=dims)
        backend.metrics.put(DRIFT_DETECTED_METRIC, float(drift.drift_detected), dimensions=dims)
        backend.metrics.put(MAX_PSI_METRIC, drift.max_psi, dimensions=dims)
    backend.metrics.put(FEEDBACK_COUNT_METRIC, len(labeled), unit="Count", dimensions=dims)
    if accuracy is not None:
        backend.metrics.put(FEEDBACK_ACCURACY_METRIC, accuracy, dimensions=dims)
    # Model age, training/serving skew, non-finite outputs, offline-online gap.
    health = run_health_checks(backend, current, captured, accuracy, len(labeled), stage=stage)
    canary = None
    if stage == "production":  # a canary release's verdict; applied here only when asked
        canary = (advance_canary if apply_canary else check_canary)(backend, model)
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
        abtest=abtest,
        health=health,
        canary=canary,
    )
