"""A regression's target checked batch by batch: a bad value far into the file (past the first
record batch) is found, reported with its line and the file quarantined; and the monitor's scan
of many capture objects gives the live RMSE and MAE computed directly from the same rows."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from mlops_template.core.monitoring import scan_window
from mlops_template.core.pipeline import LocalPipeline, PipelineSteps
from mlops_template.core.records import PredictionRecord
from mlops_template.infra.local.predictions import FilePredictionLog
from mlops_template.training import tabular_io
from mlops_template.training.config import DriftConfig, TrainingConfig
from mlops_template.training.datasets import REGRESSION_TARGET, diabetes_frame, to_csv_bytes
from mlops_template.training.drift import build_profile, numeric_profile
from mlops_template.training.schema import infer_schema
from mlops_template.training.validation import validate_data

MODEL = "diabetes"


@pytest.fixture
def small_blocks(monkeypatch):
    """Record batches of 4 KiB (CSV) and 50 rows (Parquet): the diabetes table spans many."""
    monkeypatch.setattr(tabular_io, "BLOCK_BYTES", 4096)
    monkeypatch.setattr(tabular_io, "PARQUET_BATCH_ROWS", 50)


def _first_batch_rows(data: bytes, fmt: str) -> int:
    header = list(pd.read_csv(io.BytesIO(data), nrows=0).columns) if fmt == tabular_io.CSV else []
    batches = tabular_io.record_batches(
        io.BytesIO(data), fmt, header=header, block_bytes=tabular_io.BLOCK_BYTES
    )
    return next(iter(batches)).num_rows


def _parquet(frame: pd.DataFrame) -> bytes:
    out = io.BytesIO()
    frame.to_parquet(out, index=False)
    return out.getvalue()


# rows (0-based) far past the first batch: a word, an infinity, a NaN written out
BAD = {300: "high", 350: "inf", 420: "nan"}


def _bad_frame() -> pd.DataFrame:
    frame = diabetes_frame().astype({REGRESSION_TARGET: object})
    for row, value in BAD.items():
        frame.loc[row, REGRESSION_TARGET] = value
    return frame


@pytest.mark.parametrize("fmt", [tabular_io.CSV, tabular_io.PARQUET])
def test_a_target_that_is_no_finite_number_in_a_later_batch_is_reported_with_its_lines(
    fmt, small_blocks
):
    schema = infer_schema(diabetes_frame(), REGRESSION_TARGET)
    frame = _bad_frame()
    # Parquet keeps a column's one type: a target with a word in it is a text column there.
    text = frame.astype({REGRESSION_TARGET: str})
    data = to_csv_bytes(frame) if fmt == tabular_io.CSV else _parquet(text)
    assert _first_batch_rows(data, fmt) < min(BAD)  # every bad value lies in a later batch
    report = validate_data(data, schema, source=f"d.{fmt}")
    assert not report.passed and report.rows == len(frame)
    (issue,) = report.errors
    assert issue.check == "invalid_target" and issue.count == len(BAD)
    assert issue.lines == [row + 2 for row in BAD]  # the header is line 1
    assert "'high'" in issue.message
    # The same file with good targets passes: the count is not a batch's artefact.
    assert validate_data(to_csv_bytes(diabetes_frame()), schema).passed


def test_a_regression_file_bad_in_a_later_batch_is_quarantined_with_its_report(
    backend, small_blocks
):
    steps = PipelineSteps(backend)
    steps.save_config(TrainingConfig(model_name=MODEL, target=REGRESSION_TARGET))
    steps.save_schema(MODEL, infer_schema(diabetes_frame(), REGRESSION_TARGET))
    backend.data.put("incoming/late.csv", to_csv_bytes(_bad_frame()))
    result = LocalPipeline(backend).run(MODEL, "incoming/late.csv")
    assert (result.status, result.error_type) == ("failed", "DataValidationError")
    assert "invalid_target" in (result.error or "") or "not finite numbers" in (result.error or "")
    keys = backend.data.keys(f"quarantine/{MODEL}/")
    (data_key,) = [k for k in keys if k.endswith("late.csv")]
    assert backend.data.get(data_key) == to_csv_bytes(_bad_frame())  # nothing lost
    report = json.loads(backend.data.get(f"{data_key}.report.json"))
    (issue,) = [i for i in report["issues"] if i["severity"] == "error"]
    assert issue["check"] == "invalid_target" and issue["lines"] == [row + 2 for row in BAD]
    assert backend.registry.versions(MODEL) == []


def test_the_window_scan_gives_the_live_rmse_and_mae_computed_directly(backend):
    """Predictions captured in many small objects, some with feedback: the scan's RMSE and MAE
    are those of the labelled predictions, whatever object each sits in."""
    rng = np.random.default_rng(3)
    values, truths = rng.normal(150, 40, 600), rng.normal(150, 40, 600)
    labelled = rng.random(600) < 0.7
    for start in range(0, 600, 25):  # 24 capture objects of 25, as 24 servers write them
        server = FilePredictionLog(backend.predictions.home, database=backend.predictions.path)
        server.record(
            [
                PredictionRecord(
                    prediction_id=f"p{i:04d}",
                    model=MODEL,
                    version=1,
                    stage="production",
                    features={"age": 0.01},
                    value=float(values[i]),
                )
                for i in range(start, start + 25)
            ]
        )
    for i in np.flatnonzero(labelled):
        backend.predictions.add_feedback(f"p{i:04d}", repr(float(truths[i])), model=MODEL)

    errors = values[labelled] - truths[labelled]
    frame = diabetes_frame()
    schema = infer_schema(frame, REGRESSION_TARGET)
    profile = build_profile(frame, schema, DriftConfig(), seed=0)
    rng_profile = np.random.default_rng(0)
    profile.predictions = numeric_profile("prediction", values, DriftConfig(), rng_profile)
    now = datetime.now(UTC)
    start, end = now - timedelta(hours=1), now + timedelta(hours=1)
    scan = scan_window(backend.predictions, MODEL, 1, profile, start, end, workers=4)
    assert scan.objects == 24 and scan.captured == 600
    assert scan.labelled == int(labelled.sum())
    assert scan.rmse == pytest.approx(np.sqrt(np.mean(errors**2)), rel=1e-9)
    assert scan.mae == pytest.approx(np.mean(np.abs(errors)), rel=1e-9)
