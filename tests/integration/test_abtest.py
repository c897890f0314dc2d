"""`mlops abtest` and `mlops shadow report` on the local backend: production v1, canary v2,
captured predictions with feedback written through the prediction log's port."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from mlops_template.core.abtest import ABTEST_DECISION_METRIC, ABTEST_RATE_METRIC, abtest_key
from mlops_template.core.monitoring import run_monitor
from mlops_template.core.records import PredictionRecord
from mlops_template.core.serving.app import create_app
from mlops_template.core.serving.router import ModelRouter
from mlops_template.tooling.abtest_cli import CONTINUE_EXIT
from tests.conftest import capture_outcomes as capture

from .conftest import MODEL, register


@pytest.fixture
def canary(backend, trained):
    """Production v1, canary v2 taking half the traffic."""
    for run_id in ("r1", "r2"):
        register(backend, trained, run_id)
    backend.registry.promote(MODEL, 1, "production", actor="test")
    backend.registry.promote(MODEL, 2, "canary", actor="test", weight=0.5)


def test_start_status_and_decide_promote_the_better_canary(run, backend, canary):
    started = run(
        "abtest",
        "start",
        "--mde",
        "0.1",
        "--look-every",
        "100",
        "--baseline",
        "0.8",
        "--power",
        "0.8",
    )
    assert started.exit_code == 0, started.output
    plan = json.loads(backend.artifacts.get(abtest_key(MODEL)))
    assert (plan["control_version"], plan["experiment_version"]) == (1, 2)
    assert plan["fixed_n"] == 197 and f"{plan['n_per_arm']} per arm" in started.output
    assert plan["looks"][0] == 100 and plan["mde"] == 0.1 and plan["power"] == 0.8

    waiting = run("abtest", "decide")
    assert waiting.exit_code == CONTINUE_EXIT and "continue" in waiting.output

    capture(backend, 1, "production", 160, 40, "c")  # 0.80
    capture(backend, 2, "canary", 190, 10, "e")  # 0.95
    status = run("abtest", "status", "--json")
    assert status.exit_code == 0, status.output
    document = json.loads(status.output)
    assert document["control"]["outcomes"] == document["experiment"]["outcomes"] == 200
    assert document["decision"] == "promote"
    look = document["looks"][-1]
    assert look["ci_low"] > 0 and look["z"] >= look["bound"]
    assert "decision: promote" in run("abtest", "status").output

    monitored = run_monitor(backend, MODEL)  # the scheduled monitor publishes the test too
    assert monitored.abtest is not None and monitored.abtest.decision == "promote"
    rates = {
        p["dimensions"]["variant"]: p["value"] for p in backend.metrics.read(ABTEST_RATE_METRIC)
    }
    assert rates == {
        "control": pytest.approx(0.8, abs=0.01),
        "experiment": pytest.approx(0.95, abs=0.01),
    }
    assert backend.metrics.read(ABTEST_DECISION_METRIC)[-1]["value"] == 1.0

    decided = run("abtest", "decide", "--apply")
    assert decided.exit_code == 0, decided.output
    assert "applied promote: production v1 -> v2" in decided.output
    aliases = backend.registry.aliases(MODEL)
    assert aliases["production"].version == 2 and aliases["production"].previous == [1]
    assert not backend.artifacts.exists(abtest_key(MODEL))  # the test is over
    over = run("abtest", "status")
    assert over.exit_code == 1 and "no A/B test is running" in over.output


def test_decide_rolls_back_a_worse_canary(run, backend, canary):
    assert (
        run("abtest", "start", "--mde", "0.1", "--look-every", "100", "--baseline", "0.8").exit_code
        == 0
    )
    capture(backend, 1, "production", 170, 30, "c")  # 0.85
    capture(backend, 2, "canary", 120, 80, "e")  # 0.60
    decided = run("abtest", "decide", "--apply")
    assert decided.exit_code == 0, decided.output
    assert "canary worse" in decided.output and "canary v2 retired" in decided.output
    aliases = backend.registry.aliases(MODEL)
    assert aliases["production"].version == 1 and aliases["canary"].version == 1
    last = backend.registry.history(MODEL, "canary")[-1]
    assert (last.action, last.from_version, last.to_version) == ("rollback", 2, 1)
    assert last.reason.startswith("A/B test: canary worse")


def test_start_needs_a_canary(run, backend, trained):
    register(backend, trained, "r1")
    backend.registry.promote(MODEL, 1, "production", actor="test")
    refused = run("abtest", "start")
    assert refused.exit_code == 1 and "needs a canary" in refused.output


def test_a_stage_moved_since_the_start_is_not_overwritten(run, backend, canary, trained):
    assert (
        run("abtest", "start", "--mde", "0.1", "--look-every", "100", "--baseline", "0.8").exit_code
        == 0
    )
    capture(backend, 1, "production", 160, 40, "c")
    capture(backend, 2, "canary", 190, 10, "e")
    register(backend, trained, "r3")
    backend.registry.promote(MODEL, 3, "production", actor="someone")
    refused = run("abtest", "decide", "--apply")
    assert refused.exit_code == 1 and "moved since you read it" in refused.output
    assert backend.registry.aliases(MODEL)["production"].version == 3


def test_shadow_report_from_the_api_captures(run, backend, trained, typed_frame, schema):
    for run_id in ("r1", "r2"):
        register(backend, trained, run_id)
    backend.registry.promote(MODEL, 1, "production", actor="test")
    backend.registry.promote(MODEL, 2, "shadow", actor="test")
    router = ModelRouter(
        backend.registry, backend.artifacts, MODEL, "production", refresh_seconds=0
    )
    client = TestClient(
        create_app(router, predictions=backend.predictions, metrics=backend.metrics)
    )
    rows = typed_frame[schema.feature_names].head(12).to_dict(orient="records")
    answers = client.post("/predict", json={"records": rows}).json()["predictions"]
    for answer in answers[:5]:
        feedback = {"prediction_id": answer["prediction_id"], "label": answer["label"]}
        assert client.post("/feedback", json=feedback).status_code == 202
    # Two captured pairs where the shadow disagreed (written through the port).
    backend.predictions.record(
        [
            PredictionRecord(
                prediction_id=pid,
                model=MODEL,
                version=version,
                stage=stage,
                features={},
                label=label,
                probability=0.7,
            )
            for base, truth in (("x1", "benign"), ("x2", "malignant"))
            for pid, version, stage, label in (
                (base, 1, "production", "benign"),
                (f"{base}-shadow", 2, "shadow", "malignant"),
            )
        ]
    )
    backend.predictions.add_feedback("x1", "benign", model=MODEL)
    backend.predictions.add_feedback("x2", "malignant", model=MODEL)

    report = json.loads(run("shadow", "report", "--json").output)
    assert report["pairs"] == 14 and report["shadow_versions"] == [2]
    assert report["agreement"] == pytest.approx(12 / 14)
    assert {d["prediction_id"] for d in report["disagreements"]} == {"x1", "x2"}
    assert report["labelled"] == 7
    assert report["served_accuracy"] == pytest.approx(6 / 7)  # x2 was wrong
    assert report["shadow_accuracy"] == pytest.approx(6 / 7)  # x1 was wrong
    shown = run("shadow", "report")
    assert shown.exit_code == 0 and "agreement 0.8571" in shown.output and "x1" in shown.output
    assert "disagreements" in shown.output
