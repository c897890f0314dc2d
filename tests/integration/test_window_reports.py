"""The A/B decision and the shadow report read every capture of their window (the monitor's
column reader, one object block at a time), not the newest `limit`: captures beyond the old
limits (10,000 for `recent`'s default and `mlops shadow report`) are counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mlops_template.core.abtest import plan_test, status_of, window_status
from mlops_template.core.records import PredictionRecord
from mlops_template.core.shadow import shadow_window_report

from .conftest import MODEL

NOW = datetime.now(UTC).replace(microsecond=0)
OLD_LIMIT = 10_000


def _capture(pid, version, stage, label, at):
    return PredictionRecord(
        prediction_id=pid,
        model=MODEL,
        version=version,
        stage=stage,
        at=at.isoformat(),
        features={"x": 1.0},
        label=label,
        probability=0.8,
    )


@pytest.fixture
def abtest_window(backend):
    """Over three days since the test started: per arm 5,500 served captures, the first 3,000
    with feedback (control right 2,100 times, experiment 2,400); beside them captures that do
    not count (before the start, a shadow's, another version's) and one delivered twice."""
    log = backend.predictions
    start = NOW - timedelta(days=3)
    records = []
    for version, stage, right in ((1, "production", 2_100), (2, "canary", 2_400)):
        for i in range(5_500):
            at = start + timedelta(seconds=1 + i * 40)
            label = "yes" if i < right or i >= 3_000 else "no"
            records.append(_capture(f"v{version}-{i}", version, stage, label, at))
    records.append(records[0])  # delivered twice
    records.append(_capture("early", 1, "production", "yes", start - timedelta(hours=1)))
    records.append(_capture("v1-0-shadow", 3, "shadow", "yes", start + timedelta(seconds=1)))
    records.append(_capture("other", 3, "production", "yes", start + timedelta(seconds=5)))
    log.record(records)
    for version in (1, 2):
        for i in range(3_000):
            log.add_feedback(f"v{version}-{i}", "yes", model=MODEL)
    log.add_feedback("early", "yes", model=MODEL)
    log.add_feedback("other", "yes", model=MODEL)
    plan = plan_test(MODEL, 1, 2, baseline=0.7, mde=0.1, look_every=1_000)
    return log, plan.model_copy(update={"started_at": start.isoformat()})


def test_the_abtest_counts_every_capture_since_it_started(abtest_window):
    log, plan = abtest_window
    status = window_status(log, plan, NOW)
    assert status.captured == 2 * 5_500 + 1 > OLD_LIMIT  # the duplicate is read, counted once
    assert (status.control.outcomes, status.control.successes) == (3_000, 2_100)
    assert (status.experiment.outcomes, status.experiment.successes) == (3_000, 2_400)
    # The newest 10,000 captures miss some of the test's outcomes; the window sees them all.
    newest = status_of(plan, log.recent(MODEL, limit=OLD_LIMIT))
    assert newest.control.outcomes + newest.experiment.outcomes < 6_000
    # The same outcomes in the same (time) order as from the whole list of records.
    everything = status_of(plan, log.recent(MODEL, limit=100_000))
    assert everything.looks == status.looks and everything.decision == status.decision


@pytest.fixture
def shadow_window(backend):
    """6,000 served captures over two days, each scored by the shadow too (12,000 captures);
    the shadow disagrees on every tenth; the first 1,000 have feedback (the served label)."""
    log = backend.predictions
    start = NOW - timedelta(days=2)
    records = []
    for i in range(6_000):
        at = start + timedelta(seconds=1 + i * 25)
        served = "yes" if i % 2 else "no"
        shadow = served if i % 10 else ("no" if served == "yes" else "yes")
        records.append(_capture(f"p{i}", 1, "production", served, at))
        records.append(_capture(f"p{i}-shadow", 2, "shadow", shadow, at))
    records.append(_capture("p5-shadow", 2, "shadow", "no", start - timedelta(hours=1)))
    log.record(records)
    for i in range(1_000):
        log.add_feedback(f"p{i}", "yes" if i % 2 else "no", model=MODEL)
    return log, start


@pytest.mark.parametrize("pairs_per_pass", [1_000_000, 2_500])
def test_the_shadow_report_pairs_every_capture_of_its_window(shadow_window, pairs_per_pass):
    log, start = shadow_window
    report = shadow_window_report(log, MODEL, start, NOW, pairs_per_pass=pairs_per_pass)
    assert report.captured == 12_000 > OLD_LIMIT
    assert report.pairs == 6_000 and report.agreement == pytest.approx(0.9)
    assert (report.served_versions, report.shadow_versions) == ([1], [2])
    assert report.labelled == 1_000
    assert report.served_accuracy == 1.0 and report.shadow_accuracy == pytest.approx(0.9)
    # The newest disagreements first: every tenth prediction, from the last.
    assert [d.prediction_id for d in report.disagreements[:3]] == ["p5990", "p5980", "p5970"]
    # A pass holds at most pairs_per_pass captures: more id buckets when the window is bigger.
    assert report.passes == (1 if pairs_per_pass > 12_000 else 16)
