"""A production release goes through a canary by default: the new version serves a share of
the traffic and the monitor promotes it or rolls it back once the window has passed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from mlops_template.core.canary import advance_canary, load_canary
from mlops_template.core.monitoring import run_monitor
from mlops_template.core.serving.app import create_app
from mlops_template.core.serving.router import ModelRouter
from mlops_template.training.config import TrainingConfig
from mlops_template.training.datasets import TARGET
from mlops_template.training.train import train

from .conftest import MODEL, register


@pytest.fixture(scope="module")
def contrary(typed_frame, schema):
    """A model that learnt the opposite labels: it disagrees with production almost always."""
    flipped = typed_frame.copy()
    flipped[TARGET] = flipped[TARGET].map({"benign": "malignant", "malignant": "benign"})
    return train(flipped, schema, TrainingConfig(target=TARGET), data_sha256="flipped")


def traffic(backend, typed_frame, schema, requests: int = 30) -> None:
    router = ModelRouter(
        backend.registry, backend.artifacts, MODEL, "production", refresh_seconds=0
    )
    client = TestClient(
        create_app(router, predictions=backend.predictions, metrics=backend.metrics)
    )
    rows = typed_frame[schema.feature_names].head(20).to_dict(orient="records")
    for _ in range(requests):
        assert client.post("/predict", json={"records": rows}).status_code == 200


def test_promote_to_production_starts_a_canary_that_the_monitor_promotes(
    run, backend, live, trained, typed_frame, schema
):
    second = register(backend, trained, "r2")
    result = run(
        "promote", str(second.version), "--to", "production", "--weight", "0.5", "--window", "0"
    )
    assert result.exit_code == 0, result.output
    assert f"canary of {MODEL}: v{second.version} serves 50% of production's traffic" in (
        result.output.replace("\n", " ")
    )
    aliases = backend.registry.aliases(MODEL)
    assert aliases["production"].version == live.version  # not yet
    assert (aliases["canary"].version, aliases["canary"].weight) == (second.version, 0.5)
    traffic(backend, typed_frame, schema)

    monitored = run_monitor(backend, MODEL, apply_canary=True)  # what `mlops monitor` does

    assert monitored.canary is not None and monitored.canary.decision == "promote"
    assert monitored.canary.agreement == 1.0 and monitored.canary.requests >= 100
    assert backend.registry.aliases(MODEL)["production"].version == second.version
    assert load_canary(backend, MODEL) is None  # the release is over
    last = backend.registry.history(MODEL, "production")[-1]
    assert last.reason.startswith("canary: ") and last.actor == "canary"


def test_a_canary_that_disagrees_with_production_is_rolled_back(
    run, backend, live, contrary, typed_frame, schema
):
    bad = register(backend, contrary, "r-contrary")
    run("promote", str(bad.version), "--to", "production", "--weight", "0.5", "--window", "0")
    traffic(backend, typed_frame, schema)
    verdict = advance_canary(backend, MODEL)
    assert verdict is not None and verdict.decision == "rollback"
    assert verdict.agreement is not None and verdict.agreement < 0.5
    aliases = backend.registry.aliases(MODEL)
    assert aliases["production"].version == live.version
    assert aliases["canary"].version == live.version  # retired: no traffic of its own


def test_the_canary_waits_for_its_window_and_its_traffic(run, backend, live, trained):
    second = register(backend, trained, "r2")
    run("promote", str(second.version), "--to", "production", "--window", "600")
    assert advance_canary(backend, MODEL).decision == "continue"  # in its window
    later = datetime.now(UTC) + timedelta(seconds=601)
    waiting = advance_canary(backend, MODEL, now=later)
    assert (waiting.decision, waiting.reason) == ("continue", "0 of 100 canary requests")
    unused = advance_canary(backend, MODEL, now=datetime.now(UTC) + timedelta(days=1))
    assert unused.decision == "rollback"  # nobody used it: it proved nothing
    assert backend.registry.aliases(MODEL)["production"].version == live.version


def test_direct_and_first_promotions_skip_the_canary(run, backend, trained):
    first = register(backend, trained, "r1")
    assert "no version -> v1" in run("promote", str(first.version), "--to", "production").output
    second = register(backend, trained, "r2")
    direct = run("promote", str(second.version), "--to", "production", "--direct")
    assert f"v{first.version} -> v{second.version}" in direct.output
    assert load_canary(backend, MODEL) is None
