"""Alarm-driven retraining that goes wrong leaves production as it was (real ASL on moto)."""

from __future__ import annotations

import json
from pathlib import Path

from mlops_template.core.pipeline import PipelineSteps
from mlops_template.functions import retrain
from mlops_template.tooling.emulation import LambdaContext
from mlops_template.training.config import TrainingConfig
from mlops_template.training.datasets import TARGET
from tests.e2e.test_pipeline_on_step_functions import MODEL, deployed, wait_for_executions

__all__ = ["deployed"]  # the fixture, shared with the end-to-end tests

ALARM = json.loads(
    (Path(__file__).resolve().parents[1] / "events" / "sns_cloudwatch_alarm.json").read_text()
)


def production_v1(deployed, csv_bytes):
    deployed.backend.data.put("incoming/day1.csv", csv_bytes)
    first = deployed.run(MODEL, "incoming/day1.csv", run_id="run-1")
    deployed.backend.registry.promote(MODEL, first.version, "production", actor="test")
    return first.version


def test_a_retrained_candidate_that_fails_the_gate_changes_nothing(deployed, aws, csv_bytes):
    v1 = production_v1(deployed, csv_bytes)
    strict = {"model_name": MODEL, "target": TARGET, "gate": {"min_lift_over_baseline": 0.9}}
    PipelineSteps(deployed.backend).save_config(TrainingConfig.model_validate(strict))
    result = retrain.handler(ALARM, LambdaContext(function_name="retrain"))
    assert result["reactions"][0]["action"] == "retrain"
    executions = wait_for_executions(deployed.state_machine_arn, 2)
    retrained = next(e for e in executions if e["name"] != "run-1")
    assert retrained["status"] == "SUCCEEDED"
    run = deployed.backend.registry.get_run(MODEL, retrained["name"])
    assert run.status == "gate_failed" and "baseline" in run.reason
    assert [v.version for v in deployed.backend.registry.versions(MODEL)] == [v1]
    assert deployed.backend.registry.current(MODEL, "production").version == v1


def test_a_retraining_run_that_fails_changes_nothing(deployed, aws, csv_bytes):
    v1 = production_v1(deployed, csv_bytes)
    latest = PipelineSteps(deployed.backend).latest_dataset(MODEL)
    deployed.backend.data.delete(latest.key)  # the data it would retrain on is gone
    retrain.handler(ALARM, LambdaContext(function_name="retrain"))
    executions = wait_for_executions(deployed.state_machine_arn, 2)
    retrained = next(e for e in executions if e["name"] != "run-1")
    assert retrained["status"] == "FAILED"
    run = deployed.backend.registry.get_run(MODEL, retrained["name"])
    assert run.status == "error" and run.reason
    assert deployed.backend.registry.versions(MODEL)[-1].version == v1
    assert deployed.backend.registry.current(MODEL, "production").version == v1
    history = deployed.backend.registry.history(MODEL, "production")
    assert [e.to_version for e in history] == [v1]
