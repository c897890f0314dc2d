"""Date and timestamp columns: found by schema inference, validated, turned into calendar
features, and the time-ordered split and backtest (training/timefeatures.py, timesplit.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlops_template.training import timefeatures
from mlops_template.training.config import TrainingConfig
from mlops_template.training.datasets import DEMAND_TARGET, daily_demand_frame, to_csv_bytes
from mlops_template.training.features import model_inputs
from mlops_template.training.schema import SchemaError, infer_schema, infer_schema_from
from mlops_template.training.timesplit import backtest, split_by_time
from mlops_template.training.train import split_by_hash, train
from mlops_template.training.validation import validate_csv, validate_data

TIME = {"column": "date"}


@pytest.fixture(scope="module")
def demand() -> pd.DataFrame:
    return daily_demand_frame(days=730)


@pytest.fixture(scope="module")
def demand_schema(demand):
    return infer_schema_from(to_csv_bytes(demand), DEMAND_TARGET)


def test_schema_infer_finds_the_date_column_and_never_takes_it_for_a_category(demand_schema):
    date = demand_schema.column("date")
    assert (date.kind, date.dtype, date.format, date.timezone) == ("datetime", "date", "iso", "UTC")
    assert date.categories == []
    assert "date" not in demand_schema.categorical_features + demand_schema.excluded_names
    assert timefeatures.iso_text(date.min) == "2022-01-01T00:00:00"
    assert timefeatures.iso_text(date.max) == "2023-12-31T00:00:00"
    # The model reads the calendar features, numbers, in the date's place.
    assert demand_schema.model_columns[:3] == [
        ("date__year", True),
        ("date__month", True),
        ("date__day", True),
    ]
    assert ("date__hour", True) not in demand_schema.model_columns  # a date has no hour


@pytest.mark.parametrize(
    ("values", "fmt", "dtype"),
    [
        (["2024-03-01T08:00:00Z", "2024-03-02T09:30:00+02:00"], "iso", "timestamp"),
        (["2024-03-01 08:00", "2024-03-02 09:30"], "iso", "timestamp"),
        (["03/01/2024", "03/02/2024"], "%m/%d/%Y", "date"),
        (["13/03/2024", "14/03/2024"], "%d/%m/%Y", "date"),
        (["2024/03/01 08:00", "2024/03/02 09:30"], "%Y/%m/%d %H:%M", "timestamp"),
        (["01.03.2024", "02.03.2024"], "%d.%m.%Y", "date"),
    ],
)
def test_common_date_formats_are_recognised(values, fmt, dtype):
    frame = pd.DataFrame({"when": values * 15, "x": range(30), "y": [0, 1] * 15})
    column = infer_schema(frame, "y").column("when")
    assert (column.kind, column.format, column.dtype) == ("datetime", fmt, dtype)


def test_text_that_is_not_all_dates_stays_text_and_a_named_time_column_must_be_dates():
    frame = pd.DataFrame({"code": ["2024-03-01", "soon"] * 15, "x": range(30), "y": [0, 1] * 15})
    assert infer_schema(frame, "y").column("code").kind == "categorical"
    with pytest.raises(SchemaError, match="time column 'code' is not a date"):
        infer_schema(frame, "y", time_column="code")


def test_naive_times_are_the_configured_zone_and_offsets_are_converted_into_it():
    paris = "Europe/Paris"
    # 23:30 UTC on Monday 4 March is 00:30 on Tuesday 5 March in Paris.
    aware = timefeatures.derive(["2024-03-04T23:30:00Z"], zone_name=paris)
    naive = timefeatures.derive(["2024-03-05 00:30"], zone_name=paris)
    names = timefeatures.derived_names("t", timestamp=True)
    by_name = dict(zip(names, (float(a[0]) for a in aware), strict=True))
    assert (by_name["t__day"], by_name["t__day_of_week"], by_name["t__hour"]) == (5, 1, 0)
    assert [a.tolist() for a in aware] == [n.tolist() for n in naive]
    in_utc = dict(zip(names, timefeatures.derive(["2024-03-04T23:30:00Z"]), strict=True))
    assert (float(in_utc["t__day"][0]), float(in_utc["t__hour"][0])) == (4, 23)


def test_calendar_features_agree_with_pandas_calendar():
    stamps = pd.date_range("1999-12-25", periods=500, freq="37h")
    texts = [s.isoformat() for s in stamps]
    features = dict(
        zip(
            timefeatures.derived_names("t", timestamp=True),
            timefeatures.derive(texts),
            strict=True,
        )
    )
    assert features["t__year"].tolist() == stamps.year.tolist()
    assert features["t__month"].tolist() == stamps.month.tolist()
    assert features["t__day"].tolist() == stamps.day.tolist()
    assert features["t__day_of_week"].tolist() == stamps.day_of_week.tolist()
    assert features["t__day_of_year"].tolist() == stamps.day_of_year.tolist()
    assert features["t__hour"].tolist() == stamps.hour.tolist()
    np.testing.assert_allclose(
        features["t__month_sin"], np.sin(2 * np.pi * (stamps.month - 1) / 12), atol=1e-6
    )


def test_validation_quarantines_unreadable_early_and_future_dates(demand, demand_schema):
    bad = demand.head(40).copy()
    bad.loc[3, "date"] = "2023-02-30"  # no such day
    bad.loc[5, "date"] = "yesterday"
    bad.loc[7, "date"] = "1850-01-01"
    bad.loc[9, "date"] = "2999-01-01"
    report = validate_data(to_csv_bytes(bad), demand_schema)
    assert not report.passed
    found = {i.check: i for i in report.errors}
    assert set(found) == {"date_format", "date_out_of_range", "future_date"}
    assert (found["date_format"].count, found["date_format"].lines) == (2, [5, 7])
    assert "'yesterday'" in found["date_format"].message
    assert found["date_out_of_range"].lines == [9]
    assert found["future_date"].lines == [11] and found["future_date"].column == "date"


def test_future_tolerance_comes_from_the_config(demand_schema):
    tomorrow = (pd.Timestamp.now("UTC") + pd.Timedelta(days=3)).strftime("%Y-%m-%d")
    frame = daily_demand_frame(days=30)
    frame.loc[0, "date"] = tomorrow
    strict = validate_data(to_csv_bytes(frame), demand_schema)
    assert [i.check for i in strict.errors] == ["future_date"]
    lenient = TrainingConfig(time_split={"future_tolerance_days": 5}).time_split
    assert validate_data(to_csv_bytes(frame), demand_schema, time_rules=lenient).passed


def test_training_derives_calendar_features_and_learns_the_season(demand, demand_schema):
    _, typed = validate_csv(to_csv_bytes(demand), demand_schema)
    assert typed is not None
    inputs = model_inputs(typed.head(3), demand_schema)
    assert list(inputs.columns) == [name for name, _ in demand_schema.model_columns]
    assert inputs["date__day_of_week"].tolist() == [5.0, 6.0, 0.0]  # 2022-01-01 was a Saturday
    config = TrainingConfig(target=DEMAND_TARGET, time=TIME)
    run = train(typed, demand_schema, config, data_sha256="0" * 64)
    # The season (amplitude 30) and the weekend (12) are learnt from the date alone.
    assert run.manifest.metrics["rmse"] < 0.3 * run.manifest.baseline_metrics["rmse"]
    assert run.manifest.parity_error < 1e-4


def test_the_time_split_tests_on_the_most_recent_rows(demand, demand_schema):
    train_rows, test_rows = split_by_time(demand, demand_schema.column("date"), 0.2)
    assert len(test_rows) == 146
    assert train_rows["date"].max() < test_rows["date"].min()
    assert sorted(test_rows["date"]) == sorted(demand["date"])[-146:]


def test_rows_of_one_moment_stay_on_one_side_of_the_time_split(demand_schema):
    frame = pd.DataFrame({"date": ["2022-01-01"] * 6 + ["2022-01-02"] * 4, "v": range(10)})
    train_rows, test_rows = split_by_time(frame, demand_schema.column("date"), 0.2)
    assert (len(train_rows), len(test_rows)) == (6, 4)


def _regime_frame(days: int = 900, seed: int = 1) -> pd.DataFrame:
    """A label that depends on time: each fortnight has its own odds, unknown in advance."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2021-01-01", periods=days, freq="D")
    regime = rng.random(days // 14 + 1)[np.arange(days) // 14] > 0.5
    noise = rng.random(days) < 0.1
    return pd.DataFrame(
        {
            "date": dates.strftime("%Y-%m-%d"),
            "x": rng.normal(size=days).round(4),
            "busy": np.where(regime ^ noise, "yes", "no"),
        }
    )


def test_leakage_the_time_split_scores_lower_than_the_hash_split_when_the_label_moves_in_time():
    frame = _regime_frame()
    data = to_csv_bytes(frame)
    schema = infer_schema_from(data, "busy")
    _, typed = validate_csv(data, schema)
    # No bootstrap, no permutation importance: the split is what is under test.
    base = TrainingConfig(
        target="busy", gate={"lift_alpha": None}, features={"importance_max_features": 1}
    )
    by_hash = train(typed, schema, base, data_sha256="0" * 64)
    by_time = train(
        typed, schema, base.with_overrides(time={"column": "date"}), data_sha256="0" * 64
    )
    # Hashed test days sit between training days of the same fortnight: the model has seen
    # their regime. The most recent days' regimes were never seen.
    hash_auc, time_auc = by_hash.manifest.metrics["roc_auc"], by_time.manifest.metrics["roc_auc"]
    assert hash_auc > 0.8
    assert time_auc < hash_auc - 0.2
    _, hashed_test = split_by_hash(typed, 0.2)
    assert hashed_test["date"].min() < by_time.holdout["date"].min()


def test_backtest_scores_each_fold_on_the_period_after_its_training_rows(demand, demand_schema):
    _, typed = validate_csv(to_csv_bytes(demand), demand_schema)
    config = TrainingConfig(target=DEMAND_TARGET, time=TIME)
    result = backtest(typed, demand_schema, config, folds=4)
    assert result.metric == "rmse"
    assert [f.fold for f in result.folds] == [1, 2, 3, 4]
    assert [f.train_rows for f in result.folds] == [146, 292, 438, 584]
    assert all(f.test_rows == 146 for f in result.folds)
    starts = [f.start for f in result.folds]
    assert starts == sorted(starts) and result.folds[-1].end == "2023-12-31"
    # Fold 1 trained on five months, before any winter: later folds, having seen one, do better.
    assert result.folds[-1].value < result.folds[0].value
    assert result.spread > 0
    assert result.mean == pytest.approx(np.mean([f.value for f in result.folds]))


def test_backtest_needs_a_time_column(demand, demand_schema):
    with pytest.raises(SchemaError, match=r"time\.column"):
        backtest(demand, demand_schema, TrainingConfig(target=DEMAND_TARGET))


def test_parquet_date_and_timestamp_columns_are_date_columns_and_validate(tmp_path):
    frame = daily_demand_frame(days=60)
    frame["date"] = pd.to_datetime(frame["date"])
    frame["stamp"] = frame["date"] + pd.to_timedelta(np.arange(60) % 24, unit="h")
    path = tmp_path / "demand.parquet"
    frame.to_parquet(path)
    schema = infer_schema_from(path, DEMAND_TARGET)
    assert (schema.column("date").kind, schema.column("date").dtype) == ("datetime", "date")
    assert (schema.column("stamp").kind, schema.column("stamp").dtype) == ("datetime", "timestamp")
    report, typed = validate_csv(path, schema, source="demand.parquet")
    assert report.passed, report.summary()
    inputs = model_inputs(typed, schema)
    assert inputs["stamp__hour"].tolist()[:3] == [0.0, 1.0, 2.0]
    assert inputs["date__day"].tolist()[:3] == [1.0, 2.0, 3.0]
