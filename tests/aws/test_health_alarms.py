"""The monitoring alarms of the ML Test Score, as Terraform defines them, driven OK -> ALARM on
moto by the figures the monitor really publishes (moto never evaluates alarms: the emulator's
`evaluate_alarm` does, from the datapoints, as CloudWatch would)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest

from mlops_template.core.health_checks import run_health_checks
from mlops_template.core.monitoring import run_monitor
from mlops_template.core.records import PredictionRecord
from mlops_template.tooling.emulation import evaluate_alarm
from mlops_template.training.files import MODEL_FILE, SCHEMA_FILE
from mlops_template.training.onnx_model import OnnxClassifier
from mlops_template.training.schema import DatasetSchema
from tests.terraform.conftest import MODULES, metric_alarms

from .conftest import MODEL

DRIVEN = ("model_age", "training_serving_skew", "offline_online_gap", "non_finite_outputs")


def terraform_alarms(aws) -> dict:
    return metric_alarms(
        MODULES / "monitoring",
        {
            "name_prefix": aws.data_bucket,
            "model_name": MODEL,
            "metrics_namespace": aws.metrics_namespace,
            "api_type": "http",
            "api_id": "id",
            "api_name": "api",
            "api_stage": "api",
            "state_machine_arn": "arn:aws:states:us-east-1:123456789012:stateMachine:x",
            "dead_letter_queues": {},
        },
    )


@pytest.fixture
def alarms(aws):
    found = terraform_alarms(aws)
    cloudwatch = boto3.client("cloudwatch")
    for name in DRIVEN:
        cloudwatch.put_metric_alarm(**found[name])
    return {name: found[name]["AlarmName"] for name in DRIVEN}


def capture(backend, version, rows, *, prefix: str, flip: bool = False, feedback: str = ""):
    """Record what the API would have captured for these rows: its own answers (or flipped
    ones, a serving path that computes something else), then feedback that says the served
    answer was right or wrong."""
    schema = DatasetSchema.from_json(backend.artifacts.get(version.artifacts[SCHEMA_FILE].key))
    model = OnnxClassifier(backend.artifacts.get(version.artifacts[MODEL_FILE].key), schema)
    labels, probabilities = model.predict_records(rows)
    top = probabilities.max(axis=1)
    other = {c: next(x for x in schema.target.classes if x != c) for c in schema.target.classes}
    records = [
        PredictionRecord(
            prediction_id=f"{prefix}{i:04d}",
            model=MODEL,
            version=version.version,
            stage="production",
            at=f"2026-11-29T10:{i // 60:02d}:{i % 60:02d}+00:00",
            features=row,
            label=other[label] if flip else label,
            probability=round(float(p), 6),
        )
        for i, (row, label, p) in enumerate(zip(rows, labels, top, strict=True))
    ]
    backend.predictions.record(records)
    for record in records:  # right or wrong about what was served
        if feedback:
            served = record.label
            backend.predictions.add_feedback(
                record.prediction_id, served if feedback == "right" else other[served]
            )


def test_age_skew_and_gap_alarms_go_ok_then_alarm_from_the_monitors_figures(
    configured, production_v1, alarms, typed_frame, schema
):
    rows = typed_frame[schema.feature_names].head(40).to_dict(orient="records")
    capture(configured, production_v1, rows, prefix="h", feedback="right")
    result = run_monitor(configured, MODEL)
    assert result.health.rescored == 40 and result.health.skewed == 0
    assert result.health.model_age_days < 1
    for name in ("model_age", "training_serving_skew", "offline_online_gap"):
        assert evaluate_alarm(alarms[name]) == "OK", name

    capture(configured, production_v1, rows, prefix="f", flip=True, feedback="wrong")
    result = run_monitor(configured, MODEL)
    assert result.health.skewed == 40  # every flipped answer, none of the honest ones
    assert result.health.gap is not None and result.health.gap > 0.4
    assert evaluate_alarm(alarms["training_serving_skew"]) == "ALARM"
    assert evaluate_alarm(alarms["offline_online_gap"]) == "ALARM"

    later = datetime.fromisoformat(production_v1.created_at) + timedelta(days=31)
    report = run_health_checks(configured, production_v1, [], None, 0, now=later.astimezone(UTC))
    assert report.model_age_days > 30
    assert evaluate_alarm(alarms["model_age"]) == "ALARM"


@pytest.fixture
def logistic_in_production(configured, csv_bytes):
    """A logistic regression in production: float32 overflow in its linear term turns inputs
    the schema accepts (finite, float32-sized) into NaN probabilities."""
    from mlops_template.core.pipeline import LocalPipeline, PipelineSteps
    from mlops_template.training.config import ModelConfig, TrainingConfig
    from mlops_template.training.datasets import TARGET

    PipelineSteps(configured).save_config(
        TrainingConfig(
            model_name=MODEL, target=TARGET, model=ModelConfig(algorithm="logistic_regression")
        )
    )
    configured.data.put("incoming/lr.csv", csv_bytes)
    result = LocalPipeline(configured).run(MODEL, "incoming/lr.csv", auto_promote="production")
    assert result.status == "registered", result.error
    return result.version


def test_non_finite_outputs_of_the_api_raise_their_alarm(
    logistic_in_production, alarms, context, schema
):
    import json

    from mlops_template.functions.inference import handler as inference
    from mlops_template.training.schema import FLOAT32_MAX

    from .test_inference_handler import v2

    def predict(record):
        return inference.handler(v2(json.dumps({"records": [record]})), context)

    sane = {name: 1.0 for name in schema.feature_names}
    assert predict(sane)["statusCode"] == 200
    assert evaluate_alarm(alarms["non_finite_outputs"]) == "OK"  # zero so far
    extreme = {
        name: FLOAT32_MAX * (1 if i % 2 else -1) for i, name in enumerate(schema.feature_names)
    }
    answer = predict(extreme)
    # A server fault, said in valid JSON (it was a 200 with `"probability": NaN` before).
    assert answer["statusCode"] == 500
    assert "non-finite probability for 1 of 1 records" in json.loads(answer["body"])["detail"]
    assert evaluate_alarm(alarms["non_finite_outputs"]) == "ALARM"
