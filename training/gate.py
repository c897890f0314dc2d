"""The promotion gate: a candidate must beat the baseline and must not lose to production."""

from __future__ import annotations

from pydantic import BaseModel

from mlops_template.training.config import GateConfig


class GateResult(BaseModel):
    passed: bool
    metric: str
    candidate: float
    baseline: float
    production: float | None = None
    production_version: int | None = None
    parity_error: float | None = None
    reasons: list[str]


def evaluate_gate(
    config: GateConfig,
    candidate: dict[str, float],
    baseline: dict[str, float],
    production: dict[str, float] | None = None,
    *,
    production_version: int | None = None,
    parity_error: float | None = None,
) -> GateResult:
    """Production's metrics must come from the same test set as the candidate's."""
    metric = config.metric
    reasons: list[str] = []
    lift = candidate[metric] - baseline[metric]
    if lift < config.min_lift_over_baseline:
        reasons.append(
            f"{metric} {candidate[metric]:.4f} beats the baseline {baseline[metric]:.4f} by "
            f"{lift:.4f}, less than the required {config.min_lift_over_baseline}"
        )
    if production is not None:
        regression = production[metric] - candidate[metric]
        if regression > config.max_regression:
            reasons.append(
                f"{metric} {candidate[metric]:.4f} is {regression:.4f} below production "
                f"v{production_version} ({production[metric]:.4f}); "
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
