"""Registry semantics every adapter must keep: run against each ModelRegistry adapter."""

from __future__ import annotations

import threading

import pytest

from mlops_template.core.artifacts import version_key
from mlops_template.core.records import ArtifactRef, ModelVersion, RunRecord
from mlops_template.core.registry import (
    ArtifactCheckError,
    GateNotPassedError,
    NoPreviousVersionError,
    Registry,
    RegistryOutOfStep,
    RunNotFound,
    StaleStageError,
    UnknownStageError,
    VersionExists,
    VersionNotFound,
)
from mlops_template.training.files import MODEL_FILE

MODEL = "churn"


def make_version(registry: Registry, *, passed: bool = True, model: str = MODEL) -> ModelVersion:
    """A registered version whose one artifact is in the registry's artifact store."""
    number = registry.allocate_version(model)
    key = version_key(model, number, MODEL_FILE)
    data = f"onnx of {model} v{number}".encode()
    digest = registry.artifacts.put(key, data)
    return registry.register(
        ModelVersion(
            model=model,
            version=number,
            run_id=f"run-{number}",
            source="s3://data/x.csv",
            data_sha256="d" * 64,
            model_sha256="m" * 64,
            code_version="abc",
            schema_fingerprint="f",
            metrics={"roc_auc": 0.9},
            baseline_metrics={"roc_auc": 0.5},
            gate={"passed": passed, "reasons": [] if passed else ["too weak"]},
            config={},
            artifacts={
                MODEL_FILE: ArtifactRef(
                    key=key, uri=registry.artifacts.uri(key), sha256=digest, size_bytes=len(data)
                )
            },
        )
    )


def test_versions_are_numbered_in_order_and_read_back(registry):
    first, second = make_version(registry), make_version(registry)
    assert (first.version, second.version) == (1, 2)
    assert registry.get(MODEL, 2) == second
    assert [v.version for v in registry.versions(MODEL)] == [1, 2]
    assert MODEL in registry.models()


def test_version_numbers_are_allocated_atomically_under_contention(registry):
    numbers: list[int] = []
    lock = threading.Lock()

    def allocate() -> None:
        n = registry.allocate_version("contended")
        with lock:
            numbers.append(n)

    threads = [threading.Thread(target=allocate) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(numbers) == list(range(1, 17))


def test_a_version_cannot_be_registered_twice(registry):
    version = make_version(registry)
    with pytest.raises(VersionExists):
        registry.register(version)


def test_unknown_versions_fail_clearly(registry):
    with pytest.raises(VersionNotFound, match="v42 is not registered"):
        registry.get(MODEL, 42)
    with pytest.raises(VersionNotFound):
        registry.promote(MODEL, 42, "staging", actor="t")


def test_promotion_moves_the_alias_and_records_history(registry):
    v1, v2 = make_version(registry), make_version(registry)
    registry.promote(MODEL, v1.version, "production", actor="alice", reason="first")
    event = registry.promote(MODEL, v2.version, "production", actor="bob", reason="better")
    assert (event.from_version, event.to_version) == (1, 2)
    assert registry.current(MODEL, "production").version == 2
    history = registry.history(MODEL, "production")
    assert [(e.action, e.from_version, e.to_version, e.actor) for e in history] == [
        ("promote", None, 1, "alice"),
        ("promote", 1, 2, "bob"),
    ]


def test_promoting_the_version_already_in_the_stage_changes_nothing(registry):
    v1 = make_version(registry)
    registry.promote(MODEL, v1.version, "staging", actor="t")
    assert registry.promote(MODEL, v1.version, "staging", actor="t") is None
    assert len(registry.history(MODEL)) == 1


def test_promoting_on_a_stale_view_fails(registry):
    v1, v2, v3 = make_version(registry), make_version(registry), make_version(registry)
    registry.promote(MODEL, v1.version, "production", actor="t")
    registry.promote(MODEL, v2.version, "production", actor="t", expected_version=1)
    with pytest.raises(StaleStageError, match="serves v2, not v1"):
        registry.promote(MODEL, v3.version, "production", actor="t", expected_version=1)
    with pytest.raises(StaleStageError, match="revision"):
        registry.promote(MODEL, v3.version, "production", actor="t", expected_revision=1)
    assert registry.current(MODEL, "production").version == 2


def test_the_store_refuses_a_move_from_an_outdated_revision(registry):
    """The conditional write itself, not only the service's pre-check, must hold."""
    from mlops_template.core.records import StageAlias, StageEvent

    v1 = make_version(registry)
    registry.promote(MODEL, v1.version, "staging", actor="t")
    alias = StageAlias(stage="staging", version=v1.version, revision=5)
    event = StageEvent(
        model=MODEL,
        stage="staging",
        action="promote",
        from_version=1,
        to_version=1,
        revision=5,
        actor="t",
    )
    with pytest.raises(StaleStageError):
        registry.store.move_alias(MODEL, "staging", alias, expected_revision=4, event=event)
    with pytest.raises(StaleStageError):
        registry.store.move_alias(MODEL, "staging", alias, expected_revision=0, event=event)
    assert len(registry.history(MODEL)) == 1


def test_concurrent_promotions_from_the_same_view_one_wins(registry):
    versions = [make_version(registry) for _ in range(6)]
    registry.promote(MODEL, versions[0].version, "production", actor="t")
    revision = registry.aliases(MODEL)["production"].revision
    barrier = threading.Barrier(5)
    outcomes: list[str] = []
    lock = threading.Lock()

    def race(version: int) -> None:
        barrier.wait()
        try:
            registry.promote(
                MODEL, version, "production", actor=f"t{version}", expected_revision=revision
            )
            result = f"won:{version}"
        except StaleStageError:
            result = "stale"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=race, args=(v.version,)) for v in versions[1:]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [o for o in outcomes if o.startswith("won")]
    assert len(winners) == 1 and outcomes.count("stale") == 4
    winner = int(winners[0].split(":")[1])
    assert registry.current(MODEL, "production").version == winner
    assert [e.to_version for e in registry.history(MODEL, "production")] == [1, winner]


def test_rollback_returns_to_the_previous_version_and_is_recorded(registry):
    v1, v2 = make_version(registry), make_version(registry)
    registry.promote(MODEL, v1.version, "production", actor="t")
    registry.promote(MODEL, v2.version, "production", actor="t")
    event = registry.rollback(MODEL, "production", actor="oncall", reason="errors")
    assert (event.action, event.from_version, event.to_version) == ("rollback", 2, 1)
    assert registry.current(MODEL, "production").version == 1
    with pytest.raises(NoPreviousVersionError, match="no previous version"):
        registry.rollback(MODEL, "production", actor="oncall")


def test_rollback_of_an_empty_stage_fails_clearly(registry):
    with pytest.raises(NoPreviousVersionError, match="no version to roll back"):
        registry.rollback(MODEL, "production", actor="t")


def test_production_requires_a_passed_gate(registry):
    weak = make_version(registry, passed=False)
    with pytest.raises(GateNotPassedError, match="too weak"):
        registry.promote(MODEL, weak.version, "production", actor="t")
    registry.promote(MODEL, weak.version, "staging", actor="t")  # staging may hold it


def test_unknown_stages_and_bad_canary_weights_are_refused(registry):
    v1 = make_version(registry)
    with pytest.raises(UnknownStageError):
        registry.promote(MODEL, v1.version, "prod", actor="t")
    with pytest.raises(Exception, match="weight"):
        registry.promote(MODEL, v1.version, "canary", actor="t")
    registry.promote(MODEL, v1.version, "canary", actor="t", weight=0.1)
    assert registry.aliases(MODEL)["canary"].weight == 0.1


def test_models_are_isolated(registry):
    make_version(registry, model="a")
    make_version(registry, model="b")
    registry.promote("a", 1, "production", actor="t")
    assert registry.current("b", "production") is None
    assert registry.history("b") == []


@pytest.mark.parametrize("stage", ["staging", "production", "canary", "shadow"])
def test_no_stage_moves_to_a_version_whose_artifact_is_missing(registry, stage):
    v1 = make_version(registry)
    registry.artifacts.delete(v1.artifacts[MODEL_FILE].key)
    weight = 0.1 if stage == "canary" else None
    with pytest.raises(ArtifactCheckError, match=f"{MODEL_FILE} is missing"):
        registry.promote(MODEL, v1.version, stage, actor="t", weight=weight)
    assert registry.current(MODEL, stage) is None and registry.history(MODEL) == []


def test_no_stage_moves_to_a_version_whose_artifact_was_replaced(registry):
    v1 = make_version(registry)
    registry.artifacts.put(v1.artifacts[MODEL_FILE].key, b"other bytes")
    with pytest.raises(ArtifactCheckError, match="the registry recorded"):
        registry.promote(MODEL, v1.version, "production", actor="t")
    assert registry.current(MODEL, "production") is None


def test_rollback_refuses_a_target_whose_artifact_is_gone(registry):
    v1, v2 = make_version(registry), make_version(registry)
    registry.promote(MODEL, v1.version, "production", actor="t")
    registry.promote(MODEL, v2.version, "production", actor="t")
    registry.artifacts.delete(v1.artifacts[MODEL_FILE].key)
    with pytest.raises(ArtifactCheckError, match=f"v1 cannot be used: {MODEL_FILE} is missing"):
        registry.rollback(MODEL, "production", actor="t")
    assert registry.current(MODEL, "production").version == v2.version


def test_a_registry_behind_its_artifacts_refuses_to_reissue_a_version(registry):
    """A reset registry counts from 1 again: the number is refused, the old files kept."""
    key = version_key(MODEL, 1, MODEL_FILE)
    registry.artifacts.put(key, b"the old v1")
    with pytest.raises(RegistryOutOfStep, match="reset or restored"):
        registry.allocate_version(MODEL)
    assert registry.artifacts.get(key) == b"the old v1"


# -- run records: every training run, whatever became of it --------------------------------


def test_a_run_is_recorded_as_it_goes_and_read_back_whole(registry):
    started = RunRecord(model=MODEL, run_id="r-1", source="incoming/a.csv", actor="alice")
    registry.save_run(started)
    assert registry.get_run(MODEL, "r-1") == started
    done = started.ended(
        "gate_failed",
        "roc_auc 0.51 is not 0.05 above the baseline's 0.50",
        config={"model": {"algorithm": "random_forest", "params": {"max_depth": 4}}},
        metrics={"roc_auc": 0.51},
        data_sha256="d" * 64,
        rows={"train": 300, "test": 100},
    )
    registry.save_run(done)  # the same run written again: replaced, not duplicated
    assert registry.get_run(MODEL, "r-1") == done
    assert [r.run_id for r in registry.runs(MODEL)] == ["r-1"]
    assert done.hyperparameters == {"algorithm": "random_forest", "params.max_depth": 4}


def test_runs_are_listed_newest_first_per_model_and_filtered(registry):
    for i, status in enumerate(["registered", "rejected_data", "gate_failed"]):
        registry.save_run(
            RunRecord(model=MODEL, run_id=f"r-{i}", started_at=f"2026-01-0{i + 1}T00:00:00Z").ended(
                status
            )
        )
    registry.save_run(RunRecord(model="other", run_id="o-1"))
    assert [r.run_id for r in registry.runs(MODEL)] == ["r-2", "r-1", "r-0"]
    assert [r.run_id for r in registry.runs(MODEL, status="rejected_data")] == ["r-1"]
    assert [r.run_id for r in registry.runs(MODEL, since="2026-01-02")] == ["r-2", "r-1"]
    assert [r.run_id for r in registry.runs("other")] == ["o-1"]
    assert registry.runs("nobody") == []


def test_an_unknown_run_is_a_clear_error(registry):
    with pytest.raises(RunNotFound, match="no run r-404 of churn"):
        registry.get_run(MODEL, "r-404")


def test_a_large_run_record_round_trips(registry):
    """Configs and metrics of a wide model: more than one Table property, a DynamoDB item."""
    metrics = {f"f1_class_{i:04d}": i / 3000 for i in range(3000)}
    run = RunRecord(model=MODEL, run_id="wide", metrics=metrics)
    registry.save_run(run)
    assert registry.get_run(MODEL, "wide").metrics == metrics
