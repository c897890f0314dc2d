"""The promotion gate: a candidate must beat the baseline and must not lose to production.

Each metric's direction comes from the registry in `evaluate.METRICS`: for RMSE lower is
better, for ROC AUC higher. For metrics in the target's units (RMSE, MAE) the margins are
fractions of the value compared against (a lift of 0.05 = 5% below the baseline's RMSE),
since an absolute margin would mean something else for every data set.
"""

from __future__ import annotations

from pydantic import BaseModel

from mlops_template.training.config import GateConfig
from mlops_template.training.evaluate import METRICS
from mlops_template.training.schema import Task


class GateResult(BaseModel):
    passed: bool
    metric: str
    candidate: float
    baseline: float
    production: float | None = None
    production_version: int | None = None
    parity_error: float | None = None
    reasons: list[str]


def improvement(metric: str, candidate: float, reference: float) -> float:
    """How much better the candidate is than the reference, in the gate's units: positive when
    better, whatever the metric's direction; relative to the reference for unit-ful metrics."""
    spec = METRICS[metric]
    gain = candidate - reference if spec.higher_is_better else reference - candidate
    if spec.scale_free:
        return gain
    return gain / abs(reference) if reference else (0.0 if gain == 0 else gain * float("inf"))


def evaluate_gate(
    config: GateConfig,
    candidate: dict[str, float],
    baseline: dict[str, float],
    production: dict[str, float] | None = None,
    *,
    production_version: int | None = None,
    parity_error: float | None = None,
    task: Task = "classification",
) -> GateResult:
    """Production's metrics must come from the same test set as the candidate's."""
    metric = config.metric_for(task)
    relative = not METRICS[metric].scale_free
    unit = " (relative)" if relative else ""
    reasons: list[str] = []
    lift = improvement(metric, candidate[metric], baseline[metric])
    if lift < config.min_lift_over_baseline:
        reasons.append(
            f"{metric} {candidate[metric]:.4f} beats the baseline {baseline[metric]:.4f} by "
            f"{lift:.4f}{unit}, less than the required {config.min_lift_over_baseline}"
        )
    if production is not None:
        regression = -improvement(metric, candidate[metric], production[metric])
        if regression > config.max_regression:
            reasons.append(
                f"{metric} {candidate[metric]:.4f} is {regression:.4f}{unit} worse than "
                f"production v{production_version} ({production[metric]:.4f}); "
                f"tolerance {config.max_regression}"
            )
    if parity_error is not None and parity_error > config.max_parity_error:
        reasons.append(
            f"ONNX export differs from scikit-learn by {parity_error:.2e} "
            f"(> {config.max_parity_error:.0e})"
        )
    return GateResult(
        passed=not reasons,
        metric=metric,
        candidate=candidate[metric],
        baseline=baseline[metric],
        production=production[metric] if production is not None else None,
        production_version=production_version,
        parity_error=parity_error,
        reasons=reasons,
    )
