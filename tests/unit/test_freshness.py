"""The newest timestamp of a data file, read in batches, and drift binned per time window."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlops_template.training.config import DriftConfig
from mlops_template.training.drift import (
    DriftCounts,
    ReferenceProfile,
    WindowedDriftCounts,
    build_profile,
)
from mlops_template.training.freshness import hours_since, newest_timestamp, to_utc
from mlops_template.training.schema import infer_schema
from mlops_template.training.tabular_io import BLOCK_BYTES, TabularReadError


def csv(rows: list[tuple[int, str]]) -> bytes:
    return ("id,when\n" + "".join(f"{i},{w}\n" for i, w in rows)).encode()


def test_an_offset_is_taken_as_written_and_a_naive_time_in_the_configured_zone():
    parsed = to_utc(
        ["2026-11-29T10:00:00+01:00", "2026-11-29T10:00:00Z", "2026-11-29 10:00", "2026-07-01"],
        "Europe/Paris",
    )
    assert parsed.tolist() == [
        pd.Timestamp("2026-11-29 09:00", tz="UTC"),
        pd.Timestamp("2026-11-29 10:00", tz="UTC"),
        pd.Timestamp("2026-11-29 09:00", tz="UTC"),  # Paris is UTC+1 in November
        pd.Timestamp("2026-06-30 22:00", tz="UTC"),  # and UTC+2 in July
    ]


def test_values_that_do_not_parse_are_skipped_not_guessed():
    parsed = to_utc(["not a date", None, "", "2026-03-29 02:30"], "Europe/Paris")
    # 02:30 on the night clocks go forward does not exist in Paris.
    assert parsed.isna().all()


def test_the_newest_timestamp_of_a_csv_is_the_latest_instant_not_the_latest_text():
    data = csv([(1, "2026-11-29T10:00:00+05:00"), (2, "2026-11-29T06:00:00Z"), (3, "oops")])
    # 10:00+05:00 is 05:00 UTC: the text sorts last, the instant does not.
    assert newest_timestamp(data, "when") == datetime(2026, 11, 29, 6, tzinfo=UTC)


def test_naive_timestamps_follow_the_timezone_rule():
    data = csv([(1, "2026-11-29 10:00:00"), (2, "2026-11-28 23:00:00")])
    assert newest_timestamp(data, "when") == datetime(2026, 11, 29, 10, tzinfo=UTC)
    assert newest_timestamp(data, "when", timezone="America/New_York") == datetime(
        2026, 11, 29, 15, tzinfo=UTC
    )


def test_a_file_of_many_batches_is_read_to_its_last_row():
    start = datetime(2020, 1, 1, tzinfo=UTC)
    rows = [(i, (start + timedelta(minutes=i)).isoformat()) for i in range(120_000)]
    newest_at = 70_123  # in the middle: neither the first batch nor the last row
    rows[newest_at] = (newest_at, "2031-05-06T07:08:09+00:00")
    data = csv(rows)
    assert len(data) > 3 * BLOCK_BYTES  # several record batches
    assert newest_timestamp(data, "when") == datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)


def test_parquet_timestamps_dates_and_text(tmp_path):
    aware = pa.array(
        [datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)],
        pa.timestamp("us", tz="UTC"),
    )
    naive = pa.array([datetime(2026, 3, 1), None], pa.timestamp("ms"))
    dates = pa.array([datetime(2026, 4, 1).date(), None], pa.date32())
    text = pa.array(["2026-05-01T00:00:00-02:00", "nope"])
    table = pa.table({"aware": aware, "naive": naive, "day": dates, "text": text})
    path = tmp_path / "data.parquet"
    pq.write_table(table, path)
    assert newest_timestamp(path, "aware") == datetime(2026, 2, 1, tzinfo=UTC)
    assert newest_timestamp(path, "naive", timezone="Asia/Tokyo") == datetime(
        2026, 2, 28, 15, tzinfo=UTC
    )
    assert newest_timestamp(path, "day") == datetime(2026, 4, 1, tzinfo=UTC)
    assert newest_timestamp(path, "text") == datetime(2026, 5, 1, 2, tzinfo=UTC)


def test_a_column_without_any_timestamp_has_none_and_a_missing_column_is_an_error():
    assert newest_timestamp(csv([(1, "x"), (2, "")]), "when") is None
    with pytest.raises(TabularReadError, match="no time column 'date'"):
        newest_timestamp(csv([(1, "2026-01-01")]), "date")


def test_hours_since():
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    assert hours_since("2026-11-29T12:00:00+00:00", now) == 24
    assert hours_since("2026-11-30T10:00:00", now) == 2  # naive is UTC
    assert hours_since("2026-12-01T00:00:00+00:00", now) == 0  # the future is not negative
    assert hours_since(None, now) is None


# -- drift per time window ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference() -> tuple[ReferenceProfile, pd.DataFrame]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "x": rng.normal(0, 1, 2000),
            "colour": rng.choice(["red", "green", "blue"], 2000),
            "y": rng.choice(["a", "b"], 2000),
        }
    )
    schema = infer_schema(frame, "y")
    return build_profile(frame, schema, DriftConfig()), frame


def live_week(rng, rows: int, *, shifted: bool) -> dict[str, np.ndarray]:
    x = rng.normal(3 if shifted else 0, 1, rows)
    colour = rng.choice(
        ["red", "red", "red", "grey"] if shifted else ["red", "green", "blue"], rows
    )
    return {"x": x, "colour": colour.astype(object)}


def test_drift_week_by_week_finds_the_week_that_moved(reference):
    profile, _ = reference
    rng = np.random.default_rng(1)
    origin = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday
    week = timedelta(days=7)
    counts = WindowedDriftCounts(profile, origin, week.total_seconds())
    whole = DriftCounts(profile)
    for k, shifted in enumerate([False, False, True]):
        columns = live_week(rng, 500, shifted=shifted)
        seconds = rng.uniform(0, week.total_seconds(), 500)
        at = np.datetime64(origin.replace(tzinfo=None) + k * week, "us") + (seconds * 1e6).astype(
            "timedelta64[us]"
        )
        counts.add(columns, at)
        whole.add(columns)

    reports = counts.reports(DriftConfig())
    assert [r.start for r in reports] == [(origin + k * week).isoformat() for k in range(3)]
    assert [r.end for r in reports] == [(origin + (k + 1) * week).isoformat() for k in range(3)]
    assert [r.rows for r in reports] == [500, 500, 500]
    assert [r.drift_detected for r in reports] == [False, False, True]
    assert set(reports[2].drifted_features) == {"x", "colour"}
    # The whole window sees the same rows: a third of them moved.
    assert whole.report(DriftConfig()).rows == 1500


def test_partial_window_counts_merge_to_the_counts_of_one_pass(reference):
    profile, _ = reference
    rng = np.random.default_rng(2)
    origin = datetime(2026, 11, 1, tzinfo=UTC)
    columns = live_week(rng, 900, shifted=False)
    at = np.datetime64("2026-11-01T00:00:00", "us") + (rng.uniform(0, 3 * 86400, 900) * 1e6).astype(
        "timedelta64[us]"
    )
    one = WindowedDriftCounts(profile, origin, 86400)
    one.add(columns, at)
    parts = [WindowedDriftCounts(profile, origin, 86400) for _ in range(3)]
    for i, part in enumerate(parts):
        part.add({k: v[i::3] for k, v in columns.items()}, at[i::3])
    merged = parts[0].merge(parts[1]).merge(parts[2])
    assert merged.reports(DriftConfig()) == one.reports(DriftConfig())
    assert sum(r.rows for r in one.reports(DriftConfig())) == 900


def test_a_row_before_the_origin_falls_in_a_window_of_its_own(reference):
    profile, _ = reference
    counts = WindowedDriftCounts(profile, datetime(2026, 11, 1, tzinfo=UTC), 3600)
    at = np.array(["2026-10-31T23:59:59", "2026-11-01T00:00:00"], dtype="datetime64[us]")
    assert counts.index(at).tolist() == [-1, 0]
    with pytest.raises(ValueError, match="longer than 0"):
        WindowedDriftCounts(profile, datetime(2026, 11, 1, tzinfo=UTC), 0)


def test_the_csv_reader_sees_what_pandas_would_write(tmp_path):
    """A file written by pandas with tz-aware timestamps reads back to the same newest one."""
    frame = pd.DataFrame(
        {"when": pd.date_range("2026-01-01", periods=50, freq="D", tz="Europe/Berlin")}
    )
    buffer = io.BytesIO()
    frame.to_csv(buffer, index=False)
    assert newest_timestamp(buffer.getvalue(), "when") == frame["when"].max().to_pydatetime()
