"""The pipeline on the local backend: what lands where, and what a failure leaves behind."""

from __future__ import annotations

import json

import pytest

from mlops_template.core.pipeline import LocalPipeline, PipelineSteps
from mlops_template.training.config import TrainingConfig
from mlops_template.training.datasets import TARGET

MODEL = "bc"


@pytest.fixture
def steps(backend):
    steps = PipelineSteps(backend)
    steps.save_config(TrainingConfig(model_name=MODEL, target=TARGET))
    return steps


def test_a_good_file_becomes_a_registered_version_with_verified_artifacts(
    backend, steps, csv_bytes
):
    backend.data.put("incoming/day1.csv", csv_bytes)
    result = LocalPipeline(backend).run(MODEL, "incoming/day1.csv", auto_promote="staging")
    assert result.status == "registered", result.error
    assert [s.name for s in result.steps] == ["validate", "train", "evaluate", "register"]
    assert result.promoted_to == "staging"  # by the register step, as the Lambda does it
    version = backend.registry.get(MODEL, result.version)
    assert version.gate_passed and version.metrics["roc_auc"] > 0.95
    assert version.source.endswith(f"validated/{MODEL}/{version.data_sha256}.csv")
    for name, ref in version.artifacts.items():
        assert ref.key == f"models/{MODEL}/v1/{name}"
        assert backend.artifacts.exists(ref.key)
    assert backend.data.keys("incoming/") == []  # moved, not copied
    assert backend.registry.current(MODEL, "staging").version == 1
    assert backend.data.exists(f"schemas/{MODEL}.json")  # the contract was inferred and kept


def test_a_bad_file_is_quarantined_with_a_report_and_the_registry_is_unchanged(
    backend, steps, csv_bytes
):
    backend.data.put("incoming/good.csv", csv_bytes)
    LocalPipeline(backend).run(MODEL, "incoming/good.csv")
    bad = csv_bytes.replace(b"malignant", b"maybe", 3)
    backend.data.put("incoming/bad.csv", bad)
    result = LocalPipeline(backend).run(MODEL, "incoming/bad.csv")
    assert (result.status, result.error_type) == ("failed", "DataValidationError")
    assert "labels outside" in result.error
    quarantined = backend.data.keys(f"quarantine/{MODEL}/")
    data_key = next(k for k in quarantined if k.endswith("bad.csv"))
    assert backend.data.get(data_key) == bad  # nothing lost
    report = json.loads(backend.data.get(data_key + ".report.json"))
    assert not report["passed"]
    assert report["issues"][0]["check"] == "unknown_label" and report["issues"][0]["count"] == 3
    assert [v.version for v in backend.registry.versions(MODEL)] == [1]
    assert backend.data.keys("incoming/") == []


def test_a_candidate_that_fails_the_gate_is_not_registered(backend, csv_bytes):
    steps = PipelineSteps(backend)
    strict = TrainingConfig.model_validate(
        {"model_name": MODEL, "target": TARGET, "gate": {"min_lift_over_baseline": 0.9}}
    )
    steps.save_config(strict)
    backend.data.put("incoming/x.csv", csv_bytes)
    result = LocalPipeline(backend).run(MODEL, "incoming/x.csv")
    assert result.status == "rejected"
    assert result.steps[-1].status == "skipped"
    assert backend.registry.versions(MODEL) == []


def test_a_crash_before_registration_leaves_no_version_pointing_at_missing_files(
    backend, steps, csv_bytes, monkeypatch
):
    def crash(_version):
        raise ConnectionError("registry went away")

    monkeypatch.setattr(backend.registry.store, "register", crash)
    backend.data.put("incoming/x.csv", csv_bytes)
    result = LocalPipeline(backend).run(MODEL, "incoming/x.csv")
    assert (result.status, result.error_type) == ("failed", "ConnectionError")
    monkeypatch.undo()
    assert backend.registry.versions(MODEL) == []
    assert backend.registry.current(MODEL, "production") is None


def test_a_retrained_candidate_is_compared_with_production_on_the_same_rows(
    backend, steps, csv_bytes
):
    backend.data.put("incoming/a.csv", csv_bytes)
    first = LocalPipeline(backend).run(MODEL, "incoming/a.csv")
    backend.registry.promote(MODEL, first.version, "production", actor="t")
    backend.data.put("incoming/b.csv", csv_bytes + b"")
    # The same bytes again: content-addressed, the same data version, a fair comparison.
    second = LocalPipeline(backend).run(MODEL, "incoming/b.csv")
    assert second.gate.production_version == first.version
    assert second.gate.production == pytest.approx(second.gate.candidate, abs=1e-6)
    assert second.status == "registered"


def test_a_first_file_without_a_target_cannot_define_the_contract(backend, csv_bytes):
    PipelineSteps(backend).save_config(TrainingConfig(model_name=MODEL))
    backend.data.put("incoming/x.csv", csv_bytes)
    result = LocalPipeline(backend).run(MODEL, "incoming/x.csv")
    assert result.status == "failed" and "no schema" in result.error
    assert backend.data.keys(f"quarantine/{MODEL}/")


def test_a_parquet_arrival_is_validated_trained_and_registered(backend, steps, frame):
    import io

    from mlops_template.training.schema import DatasetSchema

    out = io.BytesIO()
    frame.to_parquet(out, index=False)
    backend.data.put("incoming/day1.parquet", out.getvalue())
    result = LocalPipeline(backend).run(MODEL, "incoming/day1.parquet")
    assert result.status == "registered", result.error
    version = backend.registry.get(MODEL, result.version)
    assert version.gate_passed
    # The stored data is the very Parquet bytes checked; the contract came from them.
    assert backend.data.get(f"validated/{MODEL}/{version.data_sha256}.csv") == out.getvalue()
    schema = DatasetSchema.from_json(backend.data.get(f"schemas/{MODEL}.json"))
    assert schema.row_count == len(frame) and schema.target.name == TARGET


def test_after_a_column_is_added_the_gate_still_compares_with_production(
    backend, steps, frame, csv_bytes
):
    """A new schema (one more column) must not skip the comparison with production: production
    is scored on the same held-out rows through its own columns."""
    import io

    import numpy as np
    import pandas as pd

    from mlops_template.training.datasets import to_csv_bytes
    from mlops_template.training.schema import infer_schema

    backend.data.put("incoming/v1.csv", csv_bytes)
    first = LocalPipeline(backend).run(MODEL, "incoming/v1.csv")
    backend.registry.promote(MODEL, first.version, "production", actor="t")
    wider = frame.copy()
    wider.insert(3, "x_new", np.random.default_rng(0).normal(size=len(wider)))
    data = to_csv_bytes(wider)
    steps.save_schema(MODEL, infer_schema(pd.read_csv(io.BytesIO(data)), TARGET))
    backend.data.put("incoming/v2.csv", data)
    second = LocalPipeline(backend).run(MODEL, "incoming/v2.csv")
    assert second.status == "registered", second.error
    assert second.gate.production_version == first.version
    assert second.gate.production is not None and second.gate.production > 0.9
    assert backend.registry.get(MODEL, second.version).gate["production"] is not None
