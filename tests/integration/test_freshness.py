"""Freshness on the local backend: what the pipeline records about time, and what the monitor
publishes from it (the data's age, the production model's training-data age, drift per day)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from mlops_template.core.artifacts import report_key
from mlops_template.core.freshness import (
    DATA_AGE_METRIC,
    MODEL_DATA_AGE_METRIC,
    load_freshness,
)
from mlops_template.core.monitoring import run_monitor
from mlops_template.core.pipeline import LocalPipeline, PipelineSteps
from mlops_template.core.records import PredictionRecord
from mlops_template.training.config import TimeConfig, TrainingConfig
from mlops_template.training.datasets import TARGET
from mlops_template.training.validation import ValidationReport

MODEL = "timed"
NEWEST = datetime(2026, 10, 1, 12, tzinfo=UTC)


def stamped(frame: pd.DataFrame, newest: datetime, *, offset: str = "+00:00") -> bytes:
    """The sample data with a `measured_at` column, an hour apart, ending at `newest` (written
    in the given offset: the instant is the same whatever the text says)."""
    data = frame.copy()
    hours = np.arange(len(data))[::-1]
    zone = datetime.strptime(offset, "%z").tzinfo
    data["measured_at"] = [
        (newest - timedelta(hours=int(h))).astimezone(zone).isoformat() for h in hours
    ]
    buffer = io.BytesIO()
    data.to_csv(buffer, index=False)
    return buffer.getvalue()


@pytest.fixture
def timed(backend, frame):
    """v1 in production, trained on a file whose newest row is NEWEST."""
    config = TrainingConfig(model_name=MODEL, target=TARGET, time=TimeConfig(column="measured_at"))
    PipelineSteps(backend).save_config(config)
    backend.data.put("incoming/october.csv", stamped(frame, NEWEST, offset="+02:00"))
    result = LocalPipeline(backend).run(MODEL, "incoming/october.csv", auto_promote="production")
    assert result.status == "registered", result.error
    return result


def test_the_pipeline_records_the_newest_timestamp_of_each_accepted_file(backend, frame, timed):
    newest = NEWEST.isoformat()
    version = backend.registry.get(MODEL, timed.version)
    assert version.data_newest_timestamp == newest
    run = backend.registry.get_run(MODEL, timed.run_id)
    assert run.data_newest_timestamp == newest
    dataset = PipelineSteps(backend).latest_dataset(MODEL)
    assert dataset is not None and dataset.newest_timestamp == newest
    report = ValidationReport.model_validate_json(backend.data.get(report_key(dataset.key)))
    assert report.newest_timestamp == newest
    assert load_freshness(backend.data, MODEL).newest_timestamp == newest

    # A late file of older rows is accepted and says so, but the data is no older for it.
    older = NEWEST - timedelta(days=20)
    backend.data.put("incoming/backfill.csv", stamped(frame.head(300), older))
    late = LocalPipeline(backend).run(MODEL, "incoming/backfill.csv")
    assert backend.registry.get_run(MODEL, late.run_id).data_newest_timestamp == older.isoformat()
    kept = load_freshness(backend.data, MODEL)
    assert kept.newest_timestamp == newest and kept.source.endswith(f"{dataset.sha256}.csv")

    # A newer file moves it forward.
    newer = NEWEST + timedelta(days=2)
    backend.data.put("incoming/newer.csv", stamped(frame.head(300), newer))
    LocalPipeline(backend).run(MODEL, "incoming/newer.csv")
    assert load_freshness(backend.data, MODEL).newest_timestamp == newer.isoformat()


def test_a_model_without_a_time_column_records_no_timestamp(backend, csv_bytes):
    PipelineSteps(backend).save_config(TrainingConfig(model_name=MODEL, target=TARGET))
    backend.data.put("incoming/plain.csv", csv_bytes)
    result = LocalPipeline(backend).run(MODEL, "incoming/plain.csv", auto_promote="production")
    assert result.status == "registered", result.error
    assert backend.registry.get(MODEL, result.version).data_newest_timestamp is None
    assert load_freshness(backend.data, MODEL) is None
    monitored = run_monitor(backend, MODEL)
    assert monitored.freshness.data_age_hours is None
    assert not backend.metrics.read(DATA_AGE_METRIC) and not backend.metrics.read(
        MODEL_DATA_AGE_METRIC
    )


def test_the_monitor_publishes_the_data_age_and_the_models_training_data_age(backend, frame, timed):
    result = run_monitor(backend, MODEL, now=NEWEST + timedelta(hours=30))
    assert result.freshness.data_age_hours == 30
    assert result.freshness.model_data_age_hours == 30

    # Newer data arrives but no new version is promoted: the data is fresh, the model is not.
    backend.data.put("incoming/newer.csv", stamped(frame.head(300), NEWEST + timedelta(hours=28)))
    LocalPipeline(backend).run(MODEL, "incoming/newer.csv")
    result = run_monitor(backend, MODEL, now=NEWEST + timedelta(hours=30))
    assert result.freshness.data_age_hours == 2
    assert result.freshness.model_data_age_hours == 30

    dims = {"model": MODEL, "stage": "production"}
    data_age = [(p["value"], p["dimensions"]) for p in backend.metrics.read(DATA_AGE_METRIC)]
    model_age = [(p["value"], p["dimensions"]) for p in backend.metrics.read(MODEL_DATA_AGE_METRIC)]
    assert data_age == [(30.0, dims), (2.0, dims)]
    assert model_age == [(30.0, dims), (30.0, dims)]


def test_the_monitor_computes_drift_day_by_day_as_well_as_over_its_window(
    backend, timed, typed_frame, schema
):
    """Three days of captures, the last one shifted: over the whole window a third of the rows
    moved; day by day, the third day is the one that drifted."""
    end = datetime(2026, 11, 20, tzinfo=UTC)
    start = end - timedelta(days=3)
    rows = typed_frame[schema.feature_names].head(200).to_dict(orient="records")
    shifted = [{k: v * 3 if isinstance(v, float) else v for k, v in r.items()} for r in rows]
    records = [
        PredictionRecord(
            prediction_id=f"d{day}-{i}",
            model=MODEL,
            version=timed.version,
            stage="production",
            at=(start + timedelta(days=day, minutes=5 * i)).isoformat(),
            features=row,
            label="benign",
            probability=0.9,
        )
        for day in range(3)
        for i, row in enumerate(shifted if day == 2 else rows)
    ]
    backend.predictions.record(records)

    result = run_monitor(
        backend, MODEL, window=timedelta(days=3), end=end, drift_window=timedelta(days=1)
    )
    assert result.captured == 600
    assert [w.start for w in result.drift_windows] == [
        (start + timedelta(days=d)).isoformat() for d in range(3)
    ]
    assert [w.rows for w in result.drift_windows] == [200, 200, 200]
    assert [w.drift_detected for w in result.drift_windows] == [False, False, True]

    plain = run_monitor(backend, MODEL, window=timedelta(days=3), end=end)
    assert plain.drift_windows == [] and plain.captured == 600


def test_mlops_monitor_prints_the_ages_and_the_drift_per_window(backend, timed, run, frame):
    # Captures over two days, of the served version: two daily windows.
    rows = frame.drop(columns=[TARGET]).head(60).to_dict(orient="records")
    now = datetime.now(UTC)
    backend.predictions.record(
        [
            PredictionRecord(
                prediction_id=f"c{i}",
                model=MODEL,
                version=timed.version,
                stage="production",
                at=(now - timedelta(hours=1 + (i % 2) * 24, minutes=i)).isoformat(),
                features=row,
                label="benign",
                probability=0.9,
            )
            for i, row in enumerate(rows)
        ]
    )
    result = run("monitor", "--model", MODEL, "--window-hours", "48", "--drift-window-hours", "24")
    assert result.exit_code == 0, result.output
    assert "Drift per window" in result.output
    assert "data age " in result.output and "model's training data age" in result.output
    assert NEWEST.isoformat()[:16] in result.output.replace("\n", "")
