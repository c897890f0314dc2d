"""The promotion gate: a candidate must beat the baseline and must not lose to production.

Each metric's direction comes from the registry in `evaluate.METRICS`: for RMSE lower is
better, for ROC AUC higher. For metrics in the target's units (RMSE, MAE) the margins are
fractions of the value compared against (a lift of 0.05 = 5% below the baseline's RMSE),
since an absolute margin would mean something else for every data set.

Each rule is its own check (a function returning the reasons it refuses, none when it passes),
so a rule is added or changed without touching the others. A value that is not a number (NaN,
infinite) never passes a rule: every comparison below is written so that NaN refuses.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, Field
from typing_extensions import TypeIs

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
    production_rows: int | None = Field(
        default=None, description="Held-out rows production was compared on (unseen by it)."
    )
    parity_error: float | None = None
    reasons: list[str]
    checks: dict[str, Any] = Field(
        default_factory=dict, description="What each further check saw (lift bound, slices...)."
    )


def _finite(value: float | None) -> TypeIs[float]:
    return value is not None and math.isfinite(value)


def _number(name: str, value: float | None) -> list[str]:
    return [] if _finite(value) else [f"{name} is {value} (not a finite number): refused"]


def improvement(metric: str, candidate: float, reference: float) -> float:
    """How much better the candidate is than the reference, in the gate's units: positive when
    better, whatever the metric's direction; relative to the reference for unit-ful metrics."""
    spec = METRICS[metric]
    gain = candidate - reference if spec.higher_is_better else reference - candidate
    if spec.scale_free:
        return gain
    return gain / abs(reference) if reference else (0.0 if gain == 0 else gain * float("inf"))


def _metric(config: GateConfig, metric: str | None) -> str:
    """The gated metric: given by the caller (the model's task), else the classification one."""
    return metric or config.metric_for("classification")


def _unit(metric: str) -> str:
    return "" if METRICS[metric].scale_free else " (relative)"


def check_baseline(
    config: GateConfig, candidate: float, baseline: float, metric: str | None = None
) -> list[str]:
    metric = _metric(config, metric)
    bad = _number(f"candidate {metric}", candidate) + _number(f"baseline {metric}", baseline)
    if bad:
        return bad
    lift = improvement(metric, candidate, baseline)
    if not lift >= config.min_lift_over_baseline:
        return [
            f"{metric} {candidate:.4f} beats the baseline {baseline:.4f} by "
            f"{lift:.4f}{_unit(metric)}, less than the required {config.min_lift_over_baseline}"
        ]
    return []


def check_lift_bound(
    config: GateConfig, lift: dict[str, Any] | None, metric: str | None = None
) -> list[str]:
    """The lift over the baseline must hold at the configured confidence, not only on average:
    the lower bound of its bootstrap interval must reach `min_lift_over_baseline`."""
    if lift is None or config.lift_alpha is None:
        return []
    lower = lift.get("lower")
    if not _finite(lower):
        return [f"the lift over the baseline has no finite confidence bound ({lower}): refused"]
    if not lower >= config.min_lift_over_baseline:
        return [
            f"{_metric(config, metric)} lift over the baseline is "
            f"{lift.get('point', float('nan')):.4f} but "
            f"its {1 - config.lift_alpha:.0%} lower bound is {lower:.4f}, under the required "
            f"{config.min_lift_over_baseline}: the lift is not statistically meaningful"
        ]
    return []


def check_production(
    config: GateConfig,
    candidate: float,
    production: float | None,
    production_version: int | None,
    production_rows: int | None,
    lead: dict[str, Any] | None = None,
    metric: str | None = None,
) -> list[str]:
    """The candidate may trail production by at most `max_regression`. With `lead` (production's
    lead over the candidate on the compared rows, with a lower confidence bound) a lead whose
    bound is not above zero is noise, not a regression: it takes both to refuse."""
    if production_version is None:
        return []
    metric = _metric(config, metric)
    if production_rows == 0:
        return [
            f"no held-out row is unseen by production v{production_version}: "
            "cannot compare with it (add new rows)"
        ]
    bad = _number(f"production v{production_version} {metric}", production)
    if bad:
        return bad
    assert production is not None
    regression = -improvement(metric, candidate, production)
    if regression <= config.max_regression:
        return []
    bound = (lead or {}).get("lower")
    if lead is not None and _finite(bound) and bound <= 0:
        return []
    rows = f" on {production_rows} held-out rows" if production_rows else ""
    significant = f" (lower bound {bound:.4f})" if _finite(bound) else ""
    return [
        f"{metric} {candidate:.4f} is {regression:.4f}{_unit(metric)} worse than production "
        f"v{production_version} ({production:.4f}){rows}{significant}; "
        f"tolerance {config.max_regression}"
    ]


def check_parity(config: GateConfig, parity_error: float | None) -> list[str]:
    if parity_error is None:
        return []
    if not parity_error <= config.max_parity_error:
        return [
            f"ONNX export differs from scikit-learn by {parity_error:.2e} "
            f"(> {config.max_parity_error:.0e})"
        ]
    return []


def check_simple_model(
    config: GateConfig, simple: dict[str, Any] | None, metric: str | None = None
) -> list[str]:
    """Refuse (when configured) a candidate that a simple model matches: not worth its cost."""
    if simple is None or not config.refuse_if_simple_model_wins:
        return []
    margin = simple.get("candidate_minus_simple")
    if not _finite(margin) or not margin >= config.min_lift_over_simple_model:
        return [
            f"the simple model ({simple.get('algorithm')}) scores {_metric(config, metric)} "
            f"{simple.get('simple', float('nan')):.4f} vs the candidate's "
            f"{simple.get('candidate', float('nan')):.4f}: the candidate is not worth its "
            f"complexity (needs a lead of {config.min_lift_over_simple_model})"
        ]
    return []


def check_importance(config: GateConfig, importance: dict[str, Any] | None) -> list[str]:
    if importance is None or not config.refuse_useless_features:
        return []
    useless = importance.get("useless", [])
    if useless:
        return [
            f"{len(useless)} feature(s) add nothing on the held-out rows (permutation importance "
            f"<= 0): {', '.join(useless[:10])}"
        ]
    return []


def check_slices(
    config: GateConfig, slices: list[dict[str, Any]] | None, metric: str | None = None
) -> list[str]:
    """A slice with enough rows must reach the floor (for a lower-is-better metric such as RMSE:
    stay under it) and must not regress on production (on the slice's rows that production
    never trained on; by `improvement`, so relative for RMSE). A metric undefined on a slice
    (None: ROC AUC of one class) is reported, not gated; NaN refuses."""
    metric = _metric(config, metric)
    higher = METRICS[metric].higher_is_better
    reasons: list[str] = []
    for s in slices or []:
        name = f"slice {s['column']}={s['value']}"
        value = s.get("candidate")
        floor = config.slice_floor
        gated = s.get("rows", 0) >= config.slice_min_rows
        if (
            floor is not None
            and gated
            and value is not None
            and not (_finite(value) and (value >= floor if higher else value <= floor))
        ):
            side = "under" if higher else "over"
            reasons.append(f"{name} ({s['rows']} rows): {metric} {value} {side} the floor {floor}")
        limit, prod = config.slice_max_regression, s.get("production")
        if limit is None or prod is None or s.get("compared_rows", 0) < config.slice_min_rows:
            continue
        ours = s.get("candidate_on_compared")
        if ours is not None and not (
            _finite(ours) and _finite(prod) and -improvement(metric, ours, prod) <= limit
        ):
            reasons.append(
                f"{name} ({s['compared_rows']} rows): {metric} {ours} trails "
                f"production's {prod} by more than {limit}{_unit(metric)}"
            )
    return reasons


def check_fairness(config: GateConfig, fairness: dict[str, Any] | None) -> list[str]:
    reasons: list[str] = []
    limits = {
        "equalized_odds_difference": config.max_equalized_odds_difference,
        "demographic_parity_difference": config.max_demographic_parity_difference,
    }
    for column, measured in (fairness or {}).items():
        for name, limit in limits.items():
            # Parity and equalized odds are about a positive class: a regression's groups
            # report their RMSE and MAE instead (slices gate those).
            if limit is None or "rmse_difference" in measured:
                continue
            value = measured.get(name)
            if not (_finite(value) and value <= limit):
                reasons.append(f"{name} over {column} is {value}, over the limit {limit}")
    return reasons


def evaluate_gate(
    config: GateConfig,
    candidate: dict[str, float],
    baseline: dict[str, float],
    production: dict[str, float] | None = None,
    *,
    production_version: int | None = None,
    parity_error: float | None = None,
    candidate_on_production_rows: dict[str, float] | None = None,
    production_rows: int | None = None,
    assessment: dict[str, Any] | None = None,
    task: Task = "classification",
) -> GateResult:
    """Production's metrics must come from the same rows as `candidate_on_production_rows`
    (the candidate's own metrics on all its held-out rows when not given).

    `assessment` holds what training and the evaluate step measured beyond the metrics: the
    lift's confidence bound, the simple model, feature importance, slices and group fairness.
    The metric and its direction follow the task (`GateConfig.metric_for`)."""
    metric = config.metric_for(task)
    found = assessment or {}
    cand = candidate.get(metric, float("nan"))
    base = baseline.get(metric, float("nan"))
    against = (candidate_on_production_rows or candidate).get(metric, float("nan"))
    prod = production.get(metric, float("nan")) if production is not None else None
    reasons = [
        *check_baseline(config, cand, base, metric),
        *check_lift_bound(config, found.get("lift"), metric),
        *check_production(
            config,
            against,
            prod,
            production_version,
            production_rows,
            found.get("production"),
            metric,
        ),
        *check_parity(config, parity_error),
        *check_simple_model(config, found.get("simple_model"), metric),
        *check_importance(config, found.get("importance")),
        *check_slices(config, found.get("slices"), metric),
        *check_fairness(config, found.get("fairness")),
    ]
    return GateResult(
        passed=not reasons,
        metric=metric,
        candidate=cand,
        baseline=base,
        production=prod,
        production_version=production_version,
        production_rows=production_rows,
        parity_error=parity_error,
        reasons=list(dict.fromkeys(reasons)),
        checks=_summary(found),
    )


def _summary(found: dict[str, Any]) -> dict[str, Any]:
    """What the gate weighed, small enough for the pipeline's state (the run record keeps the
    whole assessment: every slice and feature)."""
    summary: dict[str, Any] = {}
    for key in ("lift", "production", "simple_model"):
        if key in found:
            summary[key] = found[key]
    if "importance" in found:
        summary["useless_features"] = found["importance"].get("useless", [])
    if "slices" in found:
        summary["slices"] = len(found["slices"])
    if "fairness" in found:
        summary["fairness"] = {
            column: {k: v for k, v in measured.items() if k != "by_group"}
            for column, measured in found["fairness"].items()
        }
    return summary
