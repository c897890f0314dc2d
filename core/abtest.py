"""A/B tests of a canary against production, decided by a group-sequential test.

The design (docs/abtest.md has the details and references):

- Two arms: control = the version production serves when the test starts, experiment = the
  canary's. Each captured prediction with feedback is one 0/1 outcome (accuracy by default:
  was the served label the true one).
- A two-sided group-sequential test of the difference of the two proportions with Lan-DeMets
  alpha spending of O'Brien-Fleming type (Lan & DeMets 1983), at planned looks every
  `look_every` outcomes per arm. The boundaries come from the recursive numerical integration of
  Armitage, McPherson & Rowe (1969) (Jennison & Turnbull 2000, ch. 19). A look uses the first
  n_k outcomes of each arm in time order, so however often the test is checked, each planned
  look is evaluated once on the same data: checking repeatedly cannot inflate the error rate.
- The maximum sample size per arm comes from a power calculation for the minimum detectable
  effect (MDE) under this sequential design (the fixed-sample size times the design's inflation
  factor).
- Confidence intervals are repeated confidence intervals (Jennison & Turnbull 1989): the
  difference plus or minus the look's boundary times its standard error, simultaneously valid
  over all looks.
- Decision at a look: promote when Z >= c_k (the canary is significantly better), rollback when
  Z <= -c_k (significantly worse), and at the last look without a crossing, rollback (the canary
  was not shown better at the planned sample size: production stays). Otherwise continue.

Pure statistics plus two small I/O helpers: the plan is a JSON object in the artifact store
(`abtest_key`), and applying a decision moves stages through the registry's conditional writes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from mlops_template.core.backend import Backend
from mlops_template.core.captures import parse_time
from mlops_template.core.ports import BlobNotFound, BlobStore, PredictionLog
from mlops_template.core.records import PredictionRecord, StageEvent, utc_now
from mlops_template.core.registry import RegistryError, StaleStageError

Decision = Literal["promote", "rollback", "continue"]
Variant = Literal["control", "experiment"]
Outcome = Callable[[PredictionRecord], int | None]
"""A prediction's 0/1 outcome, or None when it does not count (no feedback, say)."""

DEFAULT_MDE = 0.03
DEFAULT_ALPHA = 0.05
DEFAULT_POWER = 0.9
DEFAULT_LOOK_EVERY = 500


class NoAbTest(RegistryError):
    """No A/B test is running for this model."""


def abtest_key(model: str) -> str:
    return f"abtests/{model}.json"


# -- metrics: a prediction's 0/1 outcome ------------------------------------------------------


def correct(record: PredictionRecord) -> int | None:
    """Accuracy: 1 when the served label was the true one; None without feedback."""
    if record.true_label is None:
        return None
    return int(record.label == record.true_label)


def outcome_for(metric: str) -> Outcome:
    """`accuracy`, or `precision:<label>` (correct among the predictions of that label)."""
    if metric == "accuracy":
        return correct
    if metric.startswith("precision:") and metric.split(":", 1)[1]:
        label = metric.split(":", 1)[1]
        return lambda r: correct(r) if r.label == label else None
    raise ValueError(f"unknown metric {metric!r}: accuracy or precision:<label>")


# -- the group-sequential design ---------------------------------------------------------------


def _phi(x: np.ndarray | float) -> np.ndarray:
    from scipy.special import ndtr

    return np.asarray(ndtr(x))


def _z(p: float) -> float:
    from scipy.special import ndtri

    return float(ndtri(p))


def obf_spending(t: float, alpha: float) -> float:
    """Two-sided alpha spent by information fraction t: Lan-DeMets O'Brien-Fleming type on each
    side, 2 (2 - 2 Phi(z_{1-alpha/4} / sqrt(t))) (the convention of R's ldbounds and gsDesign's
    sfLDOF with alpha/2 per side)."""
    if t <= 0:
        return 0.0
    return float(2 * (2 - 2 * _phi(_z(1 - alpha / 4) / math.sqrt(min(t, 1.0)))))


def _simpson(lo: float, hi: float, points: int = 301) -> tuple[np.ndarray, np.ndarray]:
    """Grid and Simpson weights on [lo, hi] (points is odd)."""
    x = np.linspace(lo, hi, points)
    h = (hi - lo) / (points - 1)
    w = np.ones(points)
    w[1:-1:2], w[2:-1:2] = 4, 2
    return x, w * h / 3


def _bisect(f: Callable[[float], float], lo: float, hi: float, tol: float = 1e-7) -> float:
    flo = f(lo)
    for _ in range(200):
        mid = (lo + hi) / 2
        fmid = f(mid)
        if (fmid > 0) == (flo > 0):
            lo, flo = mid, fmid
        else:
            hi = mid
        if hi - lo < tol:
            break
    return (lo + hi) / 2


class _Walk:
    """The sub-density of the score B(t) = Z sqrt(t) ~ N(theta t, t) on the continuation region,
    look by look (Armitage, McPherson & Rowe 1969)."""

    def __init__(self, theta: float) -> None:
        self.theta = theta
        self.t = 0.0
        self.x = np.zeros(1)
        self.w = np.ones(1)
        self.f = np.ones(1)  # a point mass at 0 before the first look

    def exits(self, t: float, b: float) -> tuple[float, float]:
        """P(continue so far and cross above b / below -b at time t)."""
        d = t - self.t
        s = math.sqrt(d)
        mean = self.x + self.theta * d
        up = 1 - _phi((b - mean) / s)
        down = _phi((-b - mean) / s)
        mass = self.w * self.f
        return float(mass @ up), float(mass @ down)

    def step(self, t: float, b: float) -> None:
        d = t - self.t
        s = math.sqrt(d)
        y, wy = _simpson(-b, b)
        kernel = np.exp(-0.5 * ((y[:, None] - self.x[None, :] - self.theta * d) / s) ** 2)
        self.f = kernel @ (self.w * self.f) / (s * math.sqrt(2 * math.pi))
        self.x, self.w, self.t = y, wy, t


def boundaries(fractions: Sequence[float], alpha: float) -> list[float]:
    """Z boundaries c_k (two-sided, symmetric) spending alpha by O'Brien-Fleming-type
    Lan-DeMets at these information fractions (increasing, the last one 1)."""
    walk = _Walk(0.0)
    spent, bounds = 0.0, []
    for t in fractions:
        target = obf_spending(t, alpha) - spent
        if target <= 1e-12:
            c = 12.0
        else:

            def excess(c: float, t: float = t, target: float = target) -> float:
                up, down = walk.exits(t, c * math.sqrt(t))
                return up + down - target

            c = _bisect(excess, 0.0, 12.0)
        up, down = walk.exits(t, c * math.sqrt(t))
        spent += up + down
        bounds.append(c)
        walk.step(t, c * math.sqrt(t))
    return bounds


def crossing_probabilities(
    fractions: Sequence[float], bounds: Sequence[float], drift: float
) -> tuple[float, float]:
    """(P(cross above), P(cross below)) when Z at full information has mean `drift`."""
    walk = _Walk(drift)
    upper = lower = 0.0
    for t, c in zip(fractions, bounds, strict=True):
        up, down = walk.exits(t, c * math.sqrt(t))
        upper, lower = upper + up, lower + down
        walk.step(t, c * math.sqrt(t))
    return upper, lower


def fixed_sample_size(baseline: float, mde: float, alpha: float, power: float) -> int:
    """Per arm, for a two-sided fixed-sample test of two proportions (normal approximation)."""
    p1, p2 = baseline, min(baseline + mde, 0.999)
    variance = p1 * (1 - p1) + p2 * (1 - p2)
    z = _z(1 - alpha / 2) + _z(power)
    return math.ceil(z * z * variance / (mde * mde))


def _drift_for_power(fractions: Sequence[float], bounds: Sequence[float], power: float) -> float:
    """The mean of Z at full information that the design crosses the upper boundary with."""
    return _bisect(lambda d: crossing_probabilities(fractions, bounds, d)[0] - power, 0.0, 10.0)


def look_sizes(n_max: int, look_every: int) -> list[int]:
    sizes = list(range(look_every, n_max, look_every))
    return [*sizes, n_max]


class AbTestPlan(BaseModel):
    """What a test was started with: stored as JSON under `abtest_key(model)`."""

    model: str
    control_version: int
    experiment_version: int
    metric: str = "accuracy"
    mde: float
    alpha: float
    power: float
    baseline: float = Field(description="The control's expected rate the power assumes.")
    fixed_n: int = Field(description="Per arm, for a single look at the end.")
    n_per_arm: int = Field(description="Maximum per arm under the sequential design.")
    looks: list[int] = Field(description="Outcomes per arm at each planned look.")
    bounds: list[float] = Field(description="|Z| boundary at each look.")
    started_at: str = Field(default_factory=utc_now)
    started_by: str = "unknown"

    @property
    def inflation(self) -> float:
        return self.n_per_arm / self.fixed_n


def plan_test(
    model: str,
    control_version: int,
    experiment_version: int,
    *,
    baseline: float,
    mde: float = DEFAULT_MDE,
    alpha: float = DEFAULT_ALPHA,
    power: float = DEFAULT_POWER,
    look_every: int = DEFAULT_LOOK_EVERY,
    metric: str = "accuracy",
    started_by: str = "unknown",
) -> AbTestPlan:
    """The sequential design with the requested power at the MDE: the looks every `look_every`
    outcomes per arm up to the maximum sample size, and their boundaries."""
    if not 0 < mde < 1 or not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError("mde, alpha and power must each be between 0 and 1")
    if not 0 < baseline < 1:
        raise ValueError(f"the baseline rate must be between 0 and 1, got {baseline}")
    outcome_for(metric)  # fails early on an unknown metric
    fixed = fixed_sample_size(baseline, mde, alpha, power)
    n_max = fixed
    for _ in range(20):  # the number of looks depends on n_max, n_max on the looks
        looks = look_sizes(n_max, look_every)
        fractions = [n / n_max for n in looks]
        bounds = boundaries(fractions, alpha)
        drift = _drift_for_power(fractions, bounds, power)
        fixed_drift = _z(1 - alpha / 2) + _z(power)
        needed = math.ceil(fixed * (drift / fixed_drift) ** 2)
        if needed == n_max:
            break
        n_max = needed
    looks = look_sizes(n_max, look_every)
    bounds = boundaries([n / n_max for n in looks], alpha)
    return AbTestPlan(
        model=model,
        control_version=control_version,
        experiment_version=experiment_version,
        metric=metric,
        mde=mde,
        alpha=alpha,
        power=power,
        baseline=baseline,
        fixed_n=fixed,
        n_per_arm=n_max,
        looks=looks,
        bounds=[round(b, 6) for b in bounds],
        started_by=started_by,
    )


# -- evaluating a test -------------------------------------------------------------------------


class Look(BaseModel):
    """One evaluated look: the first `n` outcomes of each arm."""

    index: int = Field(description="1-based look number.")
    n: int
    control_rate: float
    experiment_rate: float
    difference: float
    standard_error: float
    z: float
    bound: float
    ci_low: float
    ci_high: float
    decision: Decision


def evaluate_look(plan: AbTestPlan, index: int, control: int, experiment: int) -> Look:
    """Look `index` (0-based) given the successes among its first n outcomes per arm."""
    n = plan.looks[index]
    p1, p2 = control / n, experiment / n
    diff = p2 - p1
    se = math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / n)
    z = diff / se if se > 0 else 0.0
    c = plan.bounds[index]
    decision: Decision = "continue"
    if z >= c:
        decision = "promote"
    elif z <= -c or index == len(plan.looks) - 1:
        decision = "rollback"
    return Look(
        index=index + 1,
        n=n,
        control_rate=p1,
        experiment_rate=p2,
        difference=diff,
        standard_error=se,
        z=z,
        bound=c,
        ci_low=diff - c * se,
        ci_high=diff + c * se,
        decision=decision,
    )


def decide(plan: AbTestPlan, control: Sequence[int], experiment: Sequence[int]) -> list[Look]:
    """Every planned look the outcomes (in time order) reach, up to the first that decides."""
    reached = min(len(control), len(experiment))
    c, e = np.cumsum(control), np.cumsum(experiment)
    looks: list[Look] = []
    for i, n in enumerate(plan.looks):
        if n > reached:
            break
        look = evaluate_look(plan, i, int(c[n - 1]), int(e[n - 1]))
        looks.append(look)
        if look.decision != "continue":
            break
    return looks


def simulate(
    plan: AbTestPlan, control_rate: float, experiment_rate: float, *, runs: int, seed: int
) -> dict[str, float]:
    """Share of `runs` simulated tests ending in each decision (`worse`: rolled back by crossing
    the lower boundary, a part of `rollback`), outcomes drawn from the given true rates and the
    test checked at every planned look (vectorised over the runs)."""
    rng = np.random.default_rng(seed)
    n = plan.n_per_arm
    c = np.cumsum(rng.random((runs, n)) < control_rate, axis=1)
    e = np.cumsum(rng.random((runs, n)) < experiment_rate, axis=1)
    outcome = np.zeros(runs, dtype=int)  # 0 continue, 1 promote, -1 rollback, -2 worse
    for i, size in enumerate(plan.looks):
        p1, p2 = c[:, size - 1] / size, e[:, size - 1] / size
        se = np.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / size)
        z = np.divide(p2 - p1, se, out=np.zeros(runs), where=se > 0)
        open_ = outcome == 0
        outcome[open_ & (z >= plan.bounds[i])] = 1
        outcome[open_ & (z <= -plan.bounds[i])] = -2
        if i == len(plan.looks) - 1:
            outcome[outcome == 0] = -1
    return {
        "promote": float(np.mean(outcome == 1)),
        "rollback": float(np.mean(outcome < 0)),
        "worse": float(np.mean(outcome == -2)),
        "continue": float(np.mean(outcome == 0)),
    }


class ArmCounts(BaseModel):
    variant: Variant
    version: int
    outcomes: int
    successes: int

    @property
    def rate(self) -> float | None:
        return self.successes / self.outcomes if self.outcomes else None


class AbTestStatus(BaseModel):
    plan: AbTestPlan
    control: ArmCounts
    experiment: ArmCounts
    looks: list[Look]
    decision: Decision
    reason: str
    captured: int | None = Field(
        default=None,
        description="Served captures of the two versions read since the test started: all of "
        "them (None when the status came from a list of records).",
    )

    @property
    def last(self) -> Look | None:
        return self.looks[-1] if self.looks else None


def arm_outcomes(
    records: Sequence[PredictionRecord], plan: AbTestPlan
) -> tuple[list[int], list[int]]:
    """Each arm's outcomes in time order: served predictions (never a shadow's) of its version,
    captured since the test started, that count for the metric."""
    outcome = outcome_for(plan.metric)
    arms: dict[int, list[tuple[str, str, int]]] = {
        plan.control_version: [],
        plan.experiment_version: [],
    }
    for r in records:
        if r.stage == "shadow" or r.version not in arms or r.at < plan.started_at:
            continue
        value = outcome(r)
        if value is not None:
            arms[r.version].append((r.at, r.prediction_id, value))
    # Time order, ties (one request's records) by id: never by the outcome itself.
    control = [v for *_, v in sorted(arms[plan.control_version])]
    experiment = [v for *_, v in sorted(arms[plan.experiment_version])]
    return control, experiment


def window_outcomes(
    log: PredictionLog, plan: AbTestPlan, end: datetime | None = None
) -> tuple[list[int], list[int], int]:
    """Each arm's outcomes in time order, from every served capture of its version since the
    test started (the same as `arm_outcomes`), and how many captures were read. The captures
    are read object by object as column blocks (`PredictionLog.columns`, as the monitor reads
    them); only those with feedback leave the columns, so memory holds one block and the
    outcomes, whatever the traffic. A capture delivered twice counts once."""
    import pyarrow as pa
    import pyarrow.compute as pc

    start = parse_time(plan.started_at)
    end = end or datetime.now(UTC)
    outcome = outcome_for(plan.metric)
    labels = log.feedback(plan.model, since=plan.started_at)
    known = pa.array(list(labels), pa.string())
    arms: dict[int, dict[str, tuple[datetime, int]]] = {
        plan.control_version: {},
        plan.experiment_version: {},
    }
    captured = 0
    for part in log.parts(plan.model, start, end):
        if part.version not in arms:
            continue
        for block in log.columns(part, [], [], start, end):
            captured += block.rows
            if not labels:
                continue
            has = pc.is_in(block.prediction_ids, value_set=known)
            ids = pc.filter(block.prediction_ids, has).to_pylist()
            predicted = pc.filter(block.labels, has).to_pylist()
            times = pc.filter(block.at, has).to_pylist()
            for pid, label, at in zip(ids, predicted, times, strict=True):
                record = PredictionRecord(
                    prediction_id=pid,
                    model=plan.model,
                    version=part.version,
                    stage="production",
                    at=at.isoformat(),
                    features={},
                    label=label or "",
                    true_label=labels[pid],
                )
                value = outcome(record)
                if value is not None:
                    arms[part.version].setdefault(pid, (at, value))
    # Time order, ties by id (as arm_outcomes).
    control, experiment = (
        [v for _, (_, v) in sorted(arms[version].items(), key=lambda kv: (kv[1][0], kv[0]))]
        for version in (plan.control_version, plan.experiment_version)
    )
    return control, experiment, captured


def window_status(
    log: PredictionLog, plan: AbTestPlan, end: datetime | None = None
) -> AbTestStatus:
    """The test's status from every capture since it started (`window_outcomes`)."""
    control, experiment, captured = window_outcomes(log, plan, end)
    return _status(plan, control, experiment).model_copy(update={"captured": captured})


def status_of(plan: AbTestPlan, records: Sequence[PredictionRecord]) -> AbTestStatus:
    """The test's status from a list of records (a simulation, a test)."""
    return _status(plan, *arm_outcomes(records, plan))


def _status(plan: AbTestPlan, control: list[int], experiment: list[int]) -> AbTestStatus:
    looks = decide(plan, control, experiment)
    last = looks[-1] if looks else None
    if last is None:
        reason = (
            f"first look at {plan.looks[0]} outcomes per arm; control has {len(control)}, "
            f"experiment {len(experiment)}"
        )
    elif last.decision == "promote":
        reason = f"canary better at look {last.index}: Z {last.z:.2f} >= {last.bound:.2f}"
    elif last.decision == "rollback" and last.z <= -last.bound:
        reason = f"canary worse at look {last.index}: Z {last.z:.2f} <= -{last.bound:.2f}"
    elif last.decision == "rollback":
        reason = (
            f"canary not shown better at the planned {plan.n_per_arm} per arm "
            f"(Z {last.z:.2f} < {last.bound:.2f})"
        )
    else:
        following = plan.looks[last.index] if last.index < len(plan.looks) else plan.n_per_arm
        reason = (
            f"no boundary crossed at look {last.index} (|Z| {abs(last.z):.2f} < "
            f"{last.bound:.2f}); next look at {following} per arm"
        )
    return AbTestStatus(
        plan=plan,
        control=ArmCounts(
            variant="control",
            version=plan.control_version,
            outcomes=len(control),
            successes=sum(control),
        ),
        experiment=ArmCounts(
            variant="experiment",
            version=plan.experiment_version,
            outcomes=len(experiment),
            successes=sum(experiment),
        ),
        looks=looks,
        decision=last.decision if last else "continue",
        reason=reason,
    )


# -- storing the plan, and acting on a decision -----------------------------------------------


def save_plan(store: BlobStore, plan: AbTestPlan) -> None:
    store.put(
        abtest_key(plan.model),
        plan.model_dump_json(indent=2).encode(),
        content_type="application/json",
    )


def load_plan(store: BlobStore, model: str) -> AbTestPlan | None:
    try:
        return AbTestPlan.model_validate_json(store.get(abtest_key(model)))
    except BlobNotFound:
        return None


def start_abtest(
    backend: Backend,
    model: str,
    *,
    mde: float = DEFAULT_MDE,
    alpha: float = DEFAULT_ALPHA,
    power: float = DEFAULT_POWER,
    look_every: int = DEFAULT_LOOK_EVERY,
    metric: str = "accuracy",
    baseline: float | None = None,
    actor: str = "unknown",
) -> AbTestPlan:
    """Plan and store a test of the canary against production. The baseline rate defaults to
    production's recorded test metric (accuracy), else 0.5 (the largest variance)."""
    production = backend.registry.alias(model, "production")
    canary = backend.registry.alias(model, "canary")
    if production is None or canary is None or canary.version == production.version:
        raise NoAbTest(
            f"an A/B test needs a canary of {model} serving another version than production "
            "(mlops promote N --to canary --weight 0.1)"
        )
    production_metrics = backend.registry.get(model, production.version).metrics
    if "rmse" in production_metrics:
        # The sequential test counts 0/1 outcomes; a regression's errors are not (yet) tested.
        raise NoAbTest(
            f"{model} is a regression model: A/B tests decide on 0/1 outcomes (accuracy, "
            "precision) only; compare the canary with `mlops shadow` or the monitor's "
            "FeedbackRMSE per stage instead"
        )
    if baseline is None:
        recorded = production_metrics.get(metric)
        baseline = recorded if recorded is not None and 0 < recorded < 1 else 0.5
    plan = plan_test(
        model,
        production.version,
        canary.version,
        baseline=min(baseline, 0.99 - mde) if baseline + mde >= 1 else baseline,
        mde=mde,
        alpha=alpha,
        power=power,
        look_every=look_every,
        metric=metric,
        started_by=actor,
    )
    save_plan(backend.artifacts, plan)
    return plan


def abtest_status(backend: Backend, model: str, *, end: datetime | None = None) -> AbTestStatus:
    """The running test's status from every capture since it started."""
    plan = load_plan(backend.artifacts, model)
    if plan is None:
        raise NoAbTest(f"no A/B test is running for {model} (mlops abtest start)")
    return window_status(backend.predictions, plan, end)


class Applied(BaseModel):
    decision: Decision
    detail: str
    events: list[StageEvent] = Field(default_factory=list)


def apply_decision(backend: Backend, status: AbTestStatus, *, actor: str) -> Applied:
    """promote: production -> the canary's version, conditional on production still serving the
    control (the canary alias then equals production: the router sends it no traffic).
    rollback: the canary alias is pointed back at production's version, conditional on it still
    serving the experiment (a stage move recorded as a rollback in the canary's history).
    Either way the test's plan is removed: the test is over."""
    plan = status.plan
    model = plan.model
    registry = backend.registry
    reason = f"A/B test: {status.reason}"[:500]
    if status.decision == "continue":
        return Applied(decision="continue", detail="nothing to apply: " + status.reason)
    if status.decision == "promote":
        canary = registry.alias(model, "canary")
        if canary is None or canary.version != plan.experiment_version:
            raise StaleStageError(
                f"canary of {model} no longer serves v{plan.experiment_version}: it moved since "
                "the test started"
            )
        event = registry.promote(
            model,
            plan.experiment_version,
            "production",
            actor=actor,
            reason=reason,
            expected_version=plan.control_version,
        )
        events = [event] if event else []
        detail = f"production v{plan.control_version} -> v{plan.experiment_version}"
    else:  # retire the canary: it points at production's version again (no traffic)
        events = [
            registry.retire_canary(
                model, expected_version=plan.experiment_version, actor=actor, reason=reason
            )
        ]
        detail = f"canary v{plan.experiment_version} retired (now v{plan.control_version})"
    backend.artifacts.delete(abtest_key(model))
    return Applied(decision=status.decision, detail=detail, events=events)


# -- metrics the monitor publishes -------------------------------------------------------------

ABTEST_OUTCOMES_METRIC = "ABTestOutcomes"
ABTEST_RATE_METRIC = "ABTestRate"
ABTEST_DIFFERENCE_METRIC = "ABTestDifference"
ABTEST_DECISION_METRIC = "ABTestDecision"
# 1 once the test has decided (either way): the alarm `<prefix>-abtest-decided` watches it and
# its notification makes the rollback function apply the decision (core.reactions.decide_abtest).
ABTEST_DECIDED_METRIC = "ABTestDecided"
DECIDED_ALARM_SUFFIX = "-abtest-decided"
DECISION_VALUES: dict[str, float] = {"promote": 1.0, "continue": 0.0, "rollback": -1.0}


def publish(backend: Backend, status: AbTestStatus) -> None:
    """Per-variant outcome counts and rates (dimensions model, stage, variant), the difference
    and the decision (1 promote, 0 continue, -1 rollback) for model and stage production."""
    dims = {"model": status.plan.model, "stage": "production"}
    for arm in (status.control, status.experiment):
        arm_dims = {**dims, "variant": arm.variant}
        backend.metrics.put(ABTEST_OUTCOMES_METRIC, arm.outcomes, unit="Count", dimensions=arm_dims)
        if arm.rate is not None:
            backend.metrics.put(ABTEST_RATE_METRIC, arm.rate, dimensions=arm_dims)
    if status.last is not None:
        backend.metrics.put(ABTEST_DIFFERENCE_METRIC, status.last.difference, dimensions=dims)
    backend.metrics.put(ABTEST_DECISION_METRIC, DECISION_VALUES[status.decision], dimensions=dims)
    decided = float(status.decision != "continue")
    backend.metrics.put(ABTEST_DECIDED_METRIC, decided, dimensions=dims)
