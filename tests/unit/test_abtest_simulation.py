"""The A/B test's decision procedure on simulated outcomes with a known truth.

Outcomes are drawn from given accuracies (seeded numpy) and the test is checked at every
planned look (every 500 outcomes per arm): the error rates must hold however often it looks.
"""

from __future__ import annotations

import pytest

from mlops_template.core.abtest import (
    boundaries,
    crossing_probabilities,
    decide,
    fixed_sample_size,
    plan_test,
    simulate,
)

RUNS = 200


@pytest.fixture(scope="module")
def plans():
    return {
        power: plan_test("m", 1, 2, baseline=0.80, mde=0.03, alpha=0.05, power=power)
        for power in (0.8, 0.9)
    }


def test_boundaries_are_the_published_obrien_fleming_spending_values():
    # Lan-DeMets O'Brien-Fleming type, 5 equal looks, alpha 0.05 two-sided (R ldbounds;
    # Jennison & Turnbull 2000, table 7.x): 4.877, 3.357, 2.680, 2.290, 2.031.
    bounds = boundaries([0.2, 0.4, 0.6, 0.8, 1.0], 0.05)
    assert bounds == pytest.approx([4.877, 3.357, 2.680, 2.290, 2.031], abs=2e-3)
    upper, lower = crossing_probabilities([0.2, 0.4, 0.6, 0.8, 1.0], bounds, 0.0)
    assert upper + lower == pytest.approx(0.05, abs=1e-4)


def test_the_plan_states_the_sample_size_for_the_power_asked(plans):
    plan = plans[0.8]
    # 0.80 against 0.83: (1.96 + 0.84)^2 (0.16 + 0.1411) / 0.03^2 per arm with one look.
    assert plan.fixed_n == fixed_sample_size(0.80, 0.03, 0.05, 0.8) == 2626
    assert 1.0 < plan.inflation < 1.1  # O'Brien-Fleming costs little over a single look
    assert plan.looks[:2] == [500, 1000] and plan.looks[-1] == plan.n_per_arm
    fractions = [n / plan.n_per_arm for n in plan.looks]
    drift = (1.959964 + 0.841621) * (plan.n_per_arm / plan.fixed_n) ** 0.5
    assert crossing_probabilities(fractions, plan.bounds, drift)[0] == pytest.approx(0.8, abs=0.01)


def test_a_better_canary_is_promoted(plans, figure):
    rates = {p: simulate(plans[p], 0.80, 0.83, runs=RUNS, seed=11) for p in plans}
    figure(
        "abtest canary 3 points better (0.80 vs 0.83)",
        "promoted in {:.1%} of {} tests planned for power 0.9 ({} per arm), {:.1%} planned for "
        "power 0.8 ({} per arm)".format(
            rates[0.9]["promote"],
            RUNS,
            plans[0.9].n_per_arm,
            rates[0.8]["promote"],
            plans[0.8].n_per_arm,
        ),
    )
    assert rates[0.9]["promote"] >= 0.90
    assert rates[0.8]["promote"] >= 0.72  # its stated power 0.8, with 200 runs' spread
    assert rates[0.9]["worse"] == rates[0.8]["worse"] == 0


def test_equal_variants_are_rarely_promoted_even_checked_every_500(plans, figure):
    rates = {p: simulate(plans[p], 0.80, 0.80, runs=RUNS, seed=12) for p in plans}
    figure(
        "abtest equal variants (0.80 vs 0.80)",
        "wrongly promoted in {:.1%} (power-0.9 plan, {} looks) and {:.1%} (power-0.8 plan, "
        "{} looks) of {} tests".format(
            rates[0.9]["promote"],
            len(plans[0.9].looks),
            rates[0.8]["promote"],
            len(plans[0.8].looks),
            RUNS,
        ),
    )
    assert rates[0.9]["promote"] <= 0.05 and rates[0.8]["promote"] <= 0.05


def test_a_worse_canary_is_rolled_back(plans, figure):
    rates = simulate(plans[0.8], 0.80, 0.77, runs=RUNS, seed=13)
    figure(
        "abtest canary 3 points worse (0.80 vs 0.77)",
        "rolled back in {:.1%} of {} tests, {:.1%} by crossing the lower boundary "
        "(power-0.8 plan)".format(rates["rollback"], RUNS, rates["worse"]),
    )
    assert rates["promote"] == 0 and rates["rollback"] == 1.0
    assert rates["worse"] >= 0.7


def test_peeking_without_the_design_would_promote_far_more_often(plans):
    """Why the boundaries matter: the same looks tested at a fixed 1.96 promote equal variants
    several times as often as the design allows."""
    naive = plans[0.8].model_copy(update={"bounds": [1.959964] * len(plans[0.8].looks)})
    assert simulate(naive, 0.80, 0.80, runs=1000, seed=14)["promote"] > 0.045


def test_decide_stops_at_the_first_look_that_crosses(plans):
    plan = plans[0.8]
    control = [1] * 400 + [0] * 100 + [1] * 5000  # 0.80 at the first look
    experiment = [1] * 500 + [1] * 5000  # 1.00 at the first look: crosses at once
    looks = decide(plan, control, experiment)
    assert [look.decision for look in looks] == ["promote"] and looks[0].n == 500
    assert looks[0].ci_low > 0
    assert decide(plan, control[:499], experiment) == []  # no look reached yet


# -- a regression: each outcome is a request's squared error, lower is better ---------------


def _error_decisions(plan, control_sd: float, experiment_sd: float, *, runs: int, seed: int):
    """The decisions of `runs` tests on normal errors of the given spreads, through `decide`
    (the procedure the CLI and the monitor run), each arm's squared errors in time order."""
    import numpy as np

    rng = np.random.default_rng(seed)
    decisions = []
    for _ in range(runs):
        control = rng.normal(0, control_sd, plan.n_per_arm) ** 2
        experiment = rng.normal(0, experiment_sd, plan.n_per_arm) ** 2
        decisions.append(decide(plan, control.tolist(), experiment.tolist())[-1].decision)
    return {d: decisions.count(d) / runs for d in ("promote", "rollback", "continue")}


def test_a_regression_canary_with_lower_error_is_promoted_and_an_equal_one_rarely(figure):
    plan = plan_test(
        "m", 1, 2, baseline=100.0, mde=0.3, alpha=0.05, power=0.9, look_every=100,
        metric="squared_error",
    )  # fmt: skip
    better = _error_decisions(plan, 10.0, 10.0 * 0.7**0.5, runs=400, seed=21)  # MSE 70 vs 100
    equal = _error_decisions(plan, 10.0, 10.0, runs=400, seed=22)
    worse = _error_decisions(plan, 10.0 * 0.7**0.5, 10.0, runs=400, seed=23)
    figure(
        "abtest regression canary 30% lower mean squared error",
        "promoted in {:.1%} of 400 tests (power-0.9 plan, {} per arm, {} looks); equal errors "
        "wrongly promoted in {:.1%}; 30% higher error promoted in {:.1%}".format(
            better["promote"], plan.n_per_arm, len(plan.looks), equal["promote"], worse["promote"]
        ),
    )
    assert better["promote"] >= 0.85  # the stated power 0.9, with 400 runs' spread
    assert equal["promote"] <= 0.05
    assert worse["promote"] == 0 and worse["rollback"] == 1.0
