"""Files we hand to people (holdout.csv) open in a spreadsheet without running any cell."""

import csv
import io

import pandas as pd

from mlops_template.training.config import TrainingConfig
from mlops_template.training.datasets import TARGET, to_csv_bytes
from mlops_template.training.files import HOLDOUT_FILE
from mlops_template.training.schema import infer_schema
from mlops_template.training.spreadsheet import (
    FORMULA_STARTS,
    read_spreadsheet_csv,
    to_spreadsheet_csv,
)
from mlops_template.training.train import train
from mlops_template.training.validation import coerce_frame, validate_csv

FORMULAS = [
    "=1+1",
    "a\r=1",
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1)",
    "\t=1",
    "\r=1",
    "'=quoted",
    "'",
]


def _cells(data: bytes) -> list[str]:
    return [c for row in list(csv.reader(io.StringIO(data.decode(), newline="")))[1:] for c in row]


def _runnable(cell: str) -> bool:
    if not cell.startswith(FORMULA_STARTS):
        return False
    try:
        float(cell)  # -1.5: a number, not a formula
    except ValueError:
        return True
    return False


def test_no_cell_starts_a_formula_and_every_value_reads_back():
    frame = pd.DataFrame(
        {
            "text": [*FORMULAS, "plain", None, "-1"],
            "number": [-1.5, 2.0, -3e-5, 4.0, 5.0, -6.0, 7.0, 8.0, 9.0, 1.0, None, -0.0],
        }
    )
    data = to_spreadsheet_csv(frame)
    assert not [c for c in _cells(data) if _runnable(c)]
    assert "-1.5" in _cells(data)  # numbers stay numbers
    pd.testing.assert_frame_equal(read_spreadsheet_csv(data), frame)


def test_the_holdout_we_export_is_safe_and_the_gate_reads_the_same_rows(frame, config):
    data = frame.head(300).copy()
    data["channel"] = [
        ["=1+1", "+web", "-shop", "@store", "'=q", "plain"][i % 6] for i in range(300)
    ]
    raw = to_csv_bytes(data)
    schema = infer_schema(pd.read_csv(io.BytesIO(raw)), TARGET)
    assert "channel" in schema.feature_names
    _, typed = validate_csv(raw, schema)
    run = train(typed, schema, TrainingConfig(target=TARGET), data_sha256="test")
    holdout = run.artifact_bytes()[HOLDOUT_FILE]
    assert not [c for c in _cells(holdout) if _runnable(c)]
    # What the evaluate step reads (see PipelineSteps.evaluate) is what training held out.
    read = coerce_frame(
        read_spreadsheet_csv(holdout, dtype={TARGET: str}), schema, with_target=True
    )
    pd.testing.assert_frame_equal(read, run.holdout)
