"""The evaluate step scores production only on rows it never trained on: production's training
rows are read back from its validated file (CSV or Parquet, a record batch at a time) and
hashed, minus its held-out rows."""

from __future__ import annotations

import io

import pytest

from mlops_template.core.artifacts import read_verified
from mlops_template.core.pipeline import LocalPipeline, PipelineSteps, validated_key
from mlops_template.training.config import TrainingConfig
from mlops_template.training.datasets import TARGET, to_csv_bytes
from mlops_template.training.files import HOLDOUT_FILE, SCHEMA_FILE
from mlops_template.training.schema import DatasetSchema
from mlops_template.training.spreadsheet import read_spreadsheet_csv

from .conftest import MODEL


def _as(frame, fmt: str) -> bytes:
    if fmt == "csv":
        return to_csv_bytes(frame)
    out = io.BytesIO()
    # Small row groups: the reader goes through several record batches.
    frame.to_parquet(out, index=False, row_group_size=100)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_production_is_scored_only_on_the_rows_it_did_not_train_on(backend, frame, fmt):
    steps = PipelineSteps(backend)
    steps.save_config(TrainingConfig(model_name=MODEL, target=TARGET))
    backend.data.put(f"incoming/day1.{fmt}", _as(frame, fmt))
    first = LocalPipeline(backend).run(MODEL, f"incoming/day1.{fmt}", auto_promote="production")
    assert first.status == "registered", first.gate
    production = backend.registry.current(MODEL, "production")
    stored = backend.data.get(validated_key(MODEL, production.data_sha256))
    assert stored.startswith(b"PAR1") == (fmt == "parquet")  # the file as uploaded
    schema = DatasetSchema.from_json(
        read_verified(backend.artifacts, production.artifacts[SCHEMA_FILE])
    )
    held = read_spreadsheet_csv(
        read_verified(backend.artifacts, production.artifacts[HOLDOUT_FILE]), dtype={TARGET: str}
    )
    assert 0 < len(held) < len(frame)

    # Offered every row of its own file, production is scored on its held-out rows alone.
    compared = steps._score_production(production, frame, schema)
    assert compared.rows == len(held) == int(compared.compared.sum())
    assert compared.production is not None
