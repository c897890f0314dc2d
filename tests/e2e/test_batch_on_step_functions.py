"""Batch scoring as AWS runs it: the batch definition (core/batch.asl.json) on moto's Step
Functions interpreter, a Distributed Map over the chunk manifest, each chunk a Lambda handler
run in-process, against the data bucket and the registry on moto."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from mlops_template.core.pipeline import LocalPipeline, PipelineSteps
from mlops_template.infra import build_backend
from mlops_template.tooling.emulation import deploy_batch, run_execution
from mlops_template.training.config import TrainingConfig
from mlops_template.training.datasets import TARGET

MODEL = "breast-cancer"
ROWS = 100_000
BAD_ROWS = (7, 40_000, 99_998)  # 0-based rows after the header: CSV lines 9, 40002, 100000


@pytest.fixture
def served(aws, csv_bytes):
    backend = build_backend(aws)
    PipelineSteps(backend).save_config(TrainingConfig(model_name=MODEL, target=TARGET))
    backend.data.put("incoming/day1.csv", csv_bytes)
    result = LocalPipeline(backend).run(MODEL, "incoming/day1.csv", auto_promote="production")
    assert result.status == "registered", result.error
    return backend


def big_file(csv_bytes: bytes) -> tuple[bytes, pd.DataFrame]:
    frame = pd.read_csv(io.BytesIO(csv_bytes), dtype=str).drop(columns=[TARGET])
    rows = frame.iloc[np.arange(ROWS) % len(frame)].reset_index(drop=True)
    rows.insert(0, "customer", [f"c{i}" for i in range(ROWS)])
    numeric = frame.columns[0]
    for i in BAD_ROWS:
        rows.loc[i, numeric] = "not a number"
    return rows.to_csv(index=False).encode(), rows


def test_a_100k_row_file_is_scored_chunk_by_chunk_every_row_accounted_for(served, aws, csv_bytes):
    data, rows = big_file(csv_bytes)
    served.data.put("batch-input/customers.csv", data)
    machine = deploy_batch(aws)
    job = {
        "model": MODEL,
        "input_key": "batch-input/customers.csv",
        "run_id": "nightly-1",
        "stage": "production",
        "keys": ["customer"],
        "rows_per_chunk": 20_000,
    }
    outcome = run_execution(machine, "nightly-1", {"job": job}, timeout_seconds=600)
    described = outcome["execution"]
    assert described["status"] == "SUCCEEDED", described.get("cause")
    summary = json.loads(described["output"])["summary"]
    assert (summary["rows"], summary["rejected"], summary["chunks"]) == (ROWS, 3, 5)
    assert summary["scored"] == ROWS - 3 and summary["version"] == 1

    prefix = "batch/breast-cancer/nightly-1/"
    predictions = pd.concat(
        pd.read_csv(io.BytesIO(served.data.get(k)))
        for k in sorted(served.data.keys(f"{prefix}predictions/"))
    )
    rejects = pd.concat(
        pd.read_csv(io.BytesIO(served.data.get(k)))
        for k in sorted(served.data.keys(f"{prefix}rejects/"))
    )
    assert len(predictions) == ROWS - 3 and predictions["prediction_id"].is_unique
    assert sorted(rejects["line"]) == [i + 2 for i in BAD_ROWS]
    assert all("number" in reason for reason in rejects["reason"])
    # Every input row is in exactly one of the two outputs, carried by its key column.
    assert set(predictions["customer"]) | set(rejects["customer"]) == set(rows["customer"])
    assert set(predictions["version"]) == {1}
    assert json.loads(served.data.get(f"{prefix}summary.json"))["scored"] == ROWS - 3
