"""The freshness alarms, as Terraform defines them, driven OK -> ALARM on moto by the ages the
monitor really publishes: DataAgeHours (the newest accepted data) and ModelDataAgeHours (the
newest data production learned). moto never evaluates alarms: the emulator's `evaluate_alarm`
does, from the datapoints in CloudWatch, as CloudWatch would."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import boto3
import numpy as np
import pytest

from mlops_template.core.freshness import DATA_AGE_METRIC, MODEL_DATA_AGE_METRIC
from mlops_template.core.monitoring import run_monitor
from mlops_template.core.pipeline import LocalPipeline, PipelineSteps
from mlops_template.functions import monitor, runtime
from mlops_template.tooling.emulation import evaluate_alarm
from mlops_template.training.config import TimeConfig, TrainingConfig
from mlops_template.training.datasets import TARGET

from .conftest import MODEL, load_event
from .test_health_alarms import terraform_alarms

FRESHNESS = ("freshness[data_age]", "freshness[model_data_age]")


def stamped(frame, newest: datetime) -> bytes:
    """The sample data with a `measured_at` column, rows an hour apart, the last at `newest`."""
    data = frame.copy()
    hours = np.arange(len(data))[::-1]
    data["measured_at"] = [(newest - timedelta(hours=int(h))).isoformat() for h in hours]
    buffer = io.BytesIO()
    data.to_csv(buffer, index=False)
    return buffer.getvalue()


@pytest.fixture
def alarms(aws):
    found = terraform_alarms(aws)
    cloudwatch = boto3.client("cloudwatch")
    for name in FRESHNESS:
        cloudwatch.put_metric_alarm(**found[name])
    return {name.split("[")[1].rstrip("]"): found[name] for name in FRESHNESS}


@pytest.fixture
def timed(aws_backend):
    config = TrainingConfig(model_name=MODEL, target=TARGET, time=TimeConfig(column="measured_at"))
    PipelineSteps(aws_backend).save_config(config)
    return aws_backend


def train(backend, key: str, data: bytes, *, promote: str | None = "production"):
    backend.data.put(key, data)
    result = LocalPipeline(backend).run(MODEL, key, auto_promote=promote)
    assert result.status == "registered", result.error
    return result


def state(alarm: dict) -> str:
    return evaluate_alarm(alarm["AlarmName"])


def test_the_data_age_and_model_age_alarms_go_ok_then_alarm_as_time_passes(
    timed, alarms, frame, context, monkeypatch
):
    """Fresh data and a model trained on it: both OK. Days pass without a new file: the data
    alarm fires first (48 h), the model's later (336 h); the ages come from the records."""
    assert alarms["data_age"]["Threshold"] == 48 and alarms["model_data_age"]["Threshold"] == 336
    newest = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    train(timed, "incoming/fresh.csv", stamped(frame, newest))

    # The scheduled monitor, as Lambda runs it (week-by-week drift asked for too).
    monkeypatch.setenv("MLOPS_DRIFT_WINDOW_HOURS", "168")
    runtime.reset()
    result = monitor.handler(load_event("eventbridge_schedule.json"), context)
    ages = result["freshness"]
    assert 2 <= ages["data_age_hours"] < 3 and 2 <= ages["model_data_age_hours"] < 3
    assert state(alarms["data_age"]) == "OK"
    assert state(alarms["model_data_age"]) == "OK"

    three_days = run_monitor(timed, MODEL, now=newest + timedelta(days=3))
    assert three_days.freshness.data_age_hours == 72
    assert state(alarms["data_age"]) == "ALARM"
    assert state(alarms["model_data_age"]) == "OK"  # 72 h is within the model's 336 h

    fifteen_days = run_monitor(timed, MODEL, now=newest + timedelta(days=15))
    assert fifteen_days.freshness.model_data_age_hours == 360
    assert state(alarms["model_data_age"]) == "ALARM"


def test_a_model_trained_on_old_rows_is_stale_however_new_the_version(timed, alarms, frame):
    """A version registered a minute ago, from a file whose newest row is 20 days old: its
    ModelAgeDays is 0, its ModelDataAgeHours 480, and that alarm fires with the real clock."""
    old = datetime.now(UTC).replace(microsecond=0) - timedelta(days=20)
    result = train(timed, "incoming/old.csv", stamped(frame, old))
    version = timed.registry.get(MODEL, result.version)
    assert version.data_newest_timestamp == old.isoformat()

    monitored = run_monitor(timed, MODEL)
    assert monitored.health.model_age_days < 1
    assert 480 <= monitored.freshness.model_data_age_hours < 481
    assert state(alarms["model_data_age"]) == "ALARM"
    assert state(alarms["data_age"]) == "ALARM"  # no newer data was accepted either

    cloudwatch = boto3.client("cloudwatch")
    now = datetime.now(UTC)
    for metric in (DATA_AGE_METRIC, MODEL_DATA_AGE_METRIC):
        points = cloudwatch.get_metric_statistics(
            Namespace=alarms["data_age"]["Namespace"],
            MetricName=metric,
            Dimensions=alarms["data_age"]["Dimensions"],
            StartTime=now - timedelta(minutes=5),
            EndTime=now + timedelta(minutes=5),
            Period=60,
            Statistics=["Maximum"],
        )["Datapoints"]
        assert [round(p["Maximum"]) for p in points] == [480], metric
