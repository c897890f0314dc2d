"""Data files read in record batches: CSV or Parquet, bytes, paths or streams, same reports."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from mlops_template.training import tabular_io
from mlops_template.training.datasets import TARGET, to_csv_bytes
from mlops_template.training.schema import infer_schema, infer_schema_from
from mlops_template.training.validation import (
    coerce_frame,
    read_csv_bytes,
    read_typed,
    validate_csv,
    validate_data,
)


class OneWayStream(io.RawIOBase):
    """A body that can only be read forward, like S3's `get_object()['Body']`."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        chunk = self._inner.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 4 KiB: the sample data set spans dozens of record batches."""
    monkeypatch.setattr(tabular_io, "BLOCK_BYTES", 4096)
    monkeypatch.setattr(tabular_io, "PARQUET_BATCH_ROWS", 50)


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    out = io.BytesIO()
    frame.to_parquet(out, index=False)
    return out.getvalue()


def test_a_parquet_file_validates_and_types_like_its_csv(frame, csv_bytes, schema, small_blocks):
    from_csv, typed_csv = validate_csv(csv_bytes, schema)
    from_parquet, typed_parquet = validate_csv(parquet_bytes(frame), schema, source="d.parquet")
    assert from_parquet.passed and from_parquet.rows == from_csv.rows == len(frame)
    assert from_parquet.issues == from_csv.issues == []
    pd.testing.assert_frame_equal(typed_parquet, typed_csv)


def test_parquet_is_recognised_by_its_bytes_without_a_name(frame, schema):
    report = validate_data(parquet_bytes(frame), schema, source="no-extension")
    assert report.passed and report.rows == len(frame)


def test_bad_values_in_parquet_are_reported_with_their_rows(frame, schema, small_blocks):
    bad = frame.copy()
    bad.loc[[3, 120], "mean_area"] = np.inf
    bad.loc[200, TARGET] = None
    report = validate_data(parquet_bytes(bad), schema, source="bad.parquet")
    issues = {i.check: i for i in report.errors}
    assert issues["non_finite"].lines == [5, 122]
    assert issues["missing_label"].lines == [202]


def test_a_stream_that_cannot_seek_gives_the_report_bytes_give(csv_bytes, schema):
    from_bytes = validate_data(csv_bytes, schema)
    from_stream = validate_data(OneWayStream(csv_bytes), schema)  # type: ignore[arg-type]
    assert from_stream.model_dump(exclude={"checked_at"}) == from_bytes.model_dump(
        exclude={"checked_at"}
    )
    assert from_stream.sha256 == from_bytes.sha256 and from_stream.size_bytes == len(csv_bytes)


def test_checks_across_batches_count_and_place_every_row(frame, schema, small_blocks):
    data = pd.concat([frame, frame.head(100)], ignore_index=True)
    data["mean_radius"] = data["mean_radius"].astype(object)
    data.loc[[2, 400, 650], "mean_radius"] = "n/a"
    report, _ = validate_csv(to_csv_bytes(data), schema)
    issues = {i.check: i for i in report.errors}
    assert (issues["type_mismatch"].count, issues["type_mismatch"].lines) == (3, [4, 402, 652])
    expected = data.astype(str).duplicated(keep="first")
    duplicated = issues["duplicate_rows"]
    assert duplicated.count == int(expected.sum())
    assert duplicated.lines == [int(i) + 2 for i in expected[expected].index[:10]]


def test_read_typed_is_coerce_frame_of_the_text_in_one_read(csv_bytes, schema, small_blocks):
    expected = coerce_frame(read_csv_bytes(csv_bytes), schema, with_target=True)
    pd.testing.assert_frame_equal(read_typed(csv_bytes, schema), expected)


def test_a_whole_small_file_infers_the_schema_pandas_would(csv_bytes):
    whole = infer_schema(pd.read_csv(io.BytesIO(csv_bytes)), TARGET)
    assert infer_schema_from(csv_bytes, TARGET) == whole


def test_a_big_file_infers_from_a_uniform_sample_and_counts_every_row(frame, tmp_path):
    # Sorted by label: the first rows alone would show one class.
    ordered = frame.sort_values(TARGET, kind="stable")
    path = tmp_path / "sorted.parquet"
    ordered.to_parquet(path, index=False)
    schema = infer_schema_from(path, TARGET, sample_rows=100)
    assert schema.row_count == len(frame)
    assert schema.target.classes == ["benign", "malignant"]
    assert 0.2 < schema.target.class_ratios["malignant"] < 0.55


def test_an_unreadable_file_is_rejected_not_raised(schema):
    report = validate_data(b"PAR1 but not parquet", schema, source="x.parquet")
    assert [i.check for i in report.issues] == ["unparseable"]
