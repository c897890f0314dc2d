"""The registry under contention and crashes, on both adapters (SQLite and DynamoDB on moto)."""

from __future__ import annotations

import itertools
import threading

import pytest

from infra.pipeline import LocalPipeline, PipelineSteps
from infra.registry import NoPreviousVersionError, StaleStageError
from tests.contract.test_registry import MODEL, make_version
from training.config import TrainingConfig
from training.datasets import TARGET

RACERS = 12


def race(registry, candidates: list[int], revision: int) -> list[int]:
    """Every candidate tries to take production from the same revision at the same moment."""
    barrier = threading.Barrier(len(candidates))
    won: list[int] = []
    lock = threading.Lock()

    def promote(version: int) -> None:
        barrier.wait(timeout=30)
        try:
            registry.promote(
                MODEL, version, "production", actor=f"racer-{version}", expected_revision=revision
            )
        except StaleStageError:
            return
        with lock:
            won.append(version)

    threads = [threading.Thread(target=promote, args=(v,)) for v in candidates]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return won


def test_racing_promotions_one_winner_per_round_and_a_consistent_history(registry):
    rounds = 3
    versions = [make_version(registry).version for _ in range(RACERS + 2)]
    registry.promote(MODEL, versions[0], "production", actor="seed")
    winners = []
    for _ in range(rounds):
        revision = registry.aliases(MODEL)["production"].revision
        current = registry.current(MODEL, "production").version
        candidates = [v for v in versions[1:] if v != current][:RACERS]
        won = race(registry, candidates, revision)
        assert len(won) == 1, won
        winners.append(won[0])
    history = registry.history(MODEL, "production")
    assert [e.revision for e in history] == list(range(1, rounds + 2))  # no gap, no duplicate
    assert [e.to_version for e in history] == [versions[0], *winners]
    for before, after in itertools.pairwise(history):
        assert after.from_version == before.to_version  # each move starts where the last ended
    assert registry.current(MODEL, "production").version == winners[-1]


def test_rolling_back_past_the_first_version_is_a_clear_error(registry):
    first = make_version(registry)
    registry.promote(MODEL, first.version, "production", actor="t")
    with pytest.raises(NoPreviousVersionError, match="first it served"):
        registry.rollback(MODEL, "production", actor="t")
    assert registry.current(MODEL, "production").version == first.version


def test_a_crash_after_upload_leaves_no_version_pointing_at_missing_files_on_aws(
    aws_backend, csv_bytes, monkeypatch
):
    PipelineSteps(aws_backend).save_config(TrainingConfig(model_name="bc", target=TARGET))
    aws_backend.data.put("incoming/x.csv", csv_bytes)

    def crash(_record):
        raise ConnectionError("lost the connection to DynamoDB")

    monkeypatch.setattr(aws_backend.registry.store, "register", crash)
    result = LocalPipeline(aws_backend).run("bc", "incoming/x.csv")
    assert (result.status, result.error_type) == ("failed", "ConnectionError")
    monkeypatch.undo()
    assert aws_backend.registry.versions("bc") == []
    assert aws_backend.artifacts.keys("models/bc/") == []  # the failed attempt took its files
    # A later run registers normally; every registered version's artifacts exist.
    aws_backend.data.put("incoming/y.csv", csv_bytes)
    again = LocalPipeline(aws_backend).run("bc", "incoming/y.csv")
    assert again.status == "registered"
    for version in aws_backend.registry.versions("bc"):
        for ref in version.artifacts.values():
            assert aws_backend.artifacts.exists(ref.key)
