"""The pipeline's Lambda handlers, fed the state Step Functions passes, against moto."""

from __future__ import annotations

import json

import pytest

from mlops_template.core.pipeline import DataValidationError, LocalPipeline
from mlops_template.functions import evaluate, register, train, validate
from mlops_template.tooling.emulation import handler_tasks

from .conftest import MODEL


def state(key: str, run_id: str = "run-1") -> dict:
    return {"model": MODEL, "key": key, "run_id": run_id}


def test_handlers_take_a_file_from_s3_to_a_registered_version(configured, csv_bytes, context, aws):
    configured.data.put("incoming/day1.csv", csv_bytes)
    s = state("incoming/day1.csv")
    s["validation"] = validate.handler(s, context)
    assert s["validation"]["dataset"]["uri"].startswith(f"s3://{aws.data_bucket}/validated/")
    s["training"] = train.handler(s, context)
    assert s["training"]["mode"] == "lambda"
    s["evaluation"] = evaluate.handler(s, context)
    assert s["evaluation"]["gate"]["passed"] is True
    s["registered"] = register.handler(json.loads(json.dumps(s)), context)
    version = configured.registry.get(MODEL, s["registered"]["version"])
    assert version.artifacts["model.onnx"].uri.startswith(f"s3://{aws.artifact_bucket}/models/")
    assert version.created_by == "pipeline:run-1"


def test_bad_data_fails_validation_and_is_quarantined_in_s3(configured, csv_bytes, context):
    configured.data.put("incoming/day1.csv", csv_bytes)
    validate.handler(state("incoming/day1.csv"), context)
    configured.data.put("incoming/bad.csv", csv_bytes.replace(b"mean_radius", b"radius"))
    with pytest.raises(DataValidationError, match="missing"):
        validate.handler(state("incoming/bad.csv"), context)
    quarantined = configured.data.keys(f"quarantine/{MODEL}/")
    assert any(k.endswith("bad.csv") for k in quarantined)
    assert any(k.endswith("bad.csv.report.json") for k in quarantined)
    assert not configured.data.exists("incoming/bad.csv")


def test_register_promotes_automatically_when_configured(configured, csv_bytes, monkeypatch):
    from mlops_template.functions import runtime

    monkeypatch.setenv("MLOPS_AUTO_PROMOTE_STAGE", "staging")
    runtime.reset()
    configured.data.put("incoming/d.csv", csv_bytes)
    result = LocalPipeline(configured, tasks=handler_tasks()).run(MODEL, "incoming/d.csv")
    assert result.status == "registered"
    assert configured.registry.current(MODEL, "staging").version == result.version


def test_handlers_reject_state_missing_what_they_need(configured, context):
    with pytest.raises(Exception, match="training"):
        evaluate.handler(state("incoming/x.csv"), context)
    with pytest.raises(Exception, match="validation"):
        train.handler(state("incoming/x.csv"), context)


def test_a_failed_run_leaves_the_registry_unchanged(configured, csv_bytes):
    configured.data.put("incoming/d.csv", csv_bytes.replace(b"benign", b"", 40))
    result = LocalPipeline(configured, tasks=handler_tasks()).run(MODEL, "incoming/d.csv")
    assert (result.status, result.error_type) == ("failed", "DataValidationError")
    assert configured.registry.versions(MODEL) == []
