"""Each kind of validation failure is reported with its column, count and lines."""

import io

import pandas as pd
import pytest

from mlops_template.training.config import ValidationThresholds
from mlops_template.training.datasets import TARGET
from mlops_template.training.schema import infer_schema
from mlops_template.training.validation import validate_csv


def checks(report):
    return {(i.check, i.severity) for i in report.issues}


def test_the_training_file_is_valid_and_typed(csv_bytes, schema):
    report, typed = validate_csv(csv_bytes, schema)
    assert report.passed and not report.issues
    assert report.rows == 569
    assert str(typed["mean_radius"].dtype) == "float32"


def test_the_file_a_schema_came_from_passes_without_warnings_despite_ids(customers_csv):
    schema = infer_schema(pd.read_csv(io.BytesIO(customers_csv)), TARGET)
    report, typed = validate_csv(customers_csv, schema)
    assert report.passed and report.issues == []
    assert list(typed.columns) == [*schema.feature_names, TARGET]


def test_boolean_labels_validate_in_any_case_pandas_reads(frame):
    data = frame.head(100).assign(diagnosis=frame.diagnosis.head(100).eq("malignant"))
    text = data.to_csv(index=False).replace("True", "true").replace("False", "FALSE").encode()
    schema = infer_schema(pd.read_csv(io.BytesIO(text)), TARGET)
    assert schema.target.dtype == "boolean"
    report, typed = validate_csv(text, schema)
    assert report.passed, report.summary()
    assert set(typed[TARGET]) == {"True", "False"}


def _edit(frame, fn):
    copy = frame.copy()
    fn(copy)
    return copy.to_csv(index=False).encode()


def test_missing_and_unexpected_columns_are_errors(frame, schema):
    def rename(f):
        f.columns = ["area_worst" if c == "worst_area" else c for c in f.columns]

    data = _edit(frame, rename)
    report, typed = validate_csv(data, schema)
    assert typed is None and not report.passed
    assert ("missing_column", "error") in checks(report)
    assert ("unexpected_column", "error") in checks(report)
    assert {i.column for i in report.errors} == {"worst_area", "area_worst"}


def test_extra_columns_can_be_allowed(frame, schema):
    data = _edit(frame, lambda f: f.insert(0, "row_id", range(len(f))))
    report, _ = validate_csv(data, schema, ValidationThresholds(allow_extra_columns=True))
    assert report.passed and ("unexpected_column", "warning") in checks(report)


def test_wrong_types_name_the_column_the_count_and_the_lines(frame, schema):
    def corrupt(f):
        f["mean_radius"] = f["mean_radius"].astype(object)
        f.loc[[3, 10], "mean_radius"] = "n/a"

    report, _ = validate_csv(_edit(frame, corrupt), schema)
    (issue,) = report.errors
    assert (issue.check, issue.column, issue.count) == ("type_mismatch", "mean_radius", 2)
    assert issue.lines == [5, 12]  # header is line 1


def test_infinite_and_overflowing_values_are_errors(frame, schema):
    def corrupt(f):
        f["mean_area"] = f["mean_area"].astype(object)
        f.loc[0, "mean_area"] = "inf"
        f.loc[1, "mean_area"] = "1e300"

    report, _ = validate_csv(_edit(frame, corrupt), schema)
    assert {"non_finite", "value_overflow"} <= {i.check for i in report.errors}


def test_too_many_missing_values_is_an_error_a_few_is_a_warning(frame, schema):
    def many(f):
        f.loc[:120, "mean_texture"] = None

    def few(f):
        f.loc[0, "mean_texture"] = None

    report, _ = validate_csv(_edit(frame, many), schema)
    issue = next(i for i in report.errors if i.check == "missing_values")
    assert (issue.column, issue.count) == ("mean_texture", 121)
    report, _ = validate_csv(_edit(frame, few), schema)
    assert report.passed and ("unexpected_missing", "warning") in checks(report)


def test_duplicated_rows_over_the_limit_are_an_error(frame, schema):
    import pandas as pd

    data = pd.concat([frame, frame.head(100)]).to_csv(index=False).encode()
    report, _ = validate_csv(data, schema)
    issue = next(i for i in report.errors if i.check == "duplicate_rows")
    assert issue.count == 100


def test_unknown_and_missing_labels_are_errors(frame, schema):
    def corrupt(f):
        f.loc[0, "diagnosis"] = "unsure"
        f.loc[1, "diagnosis"] = None

    report, _ = validate_csv(_edit(frame, corrupt), schema)
    assert {"unknown_label", "missing_label"} <= {i.check for i in report.errors}


def test_a_single_class_file_cannot_train(frame, schema):
    data = frame[frame.diagnosis == "benign"].to_csv(index=False).encode()
    report, _ = validate_csv(data, schema)
    assert ("single_class", "error") in checks(report)
    assert ("label_shift", "warning") in checks(report)


@pytest.mark.parametrize(
    ("data", "check"),
    [
        (b"", "empty_file"),
        (b"   \n", "empty_file"),
        ("mean_radius\n1\n".encode("utf-16"), "encoding"),
    ],
)
def test_unreadable_files_are_rejected_with_a_reason(data, check, schema):
    report, typed = validate_csv(data, schema)
    assert typed is None
    assert [i.check for i in report.issues] == [check]


def test_header_only_file_has_no_rows(csv_bytes, schema):
    report, _ = validate_csv(csv_bytes.splitlines()[0] + b"\n", schema)
    assert "no_rows" in {i.check for i in report.errors}


def test_files_over_the_size_limit_are_rejected_before_parsing(csv_bytes, schema):
    report, _ = validate_csv(csv_bytes, schema, ValidationThresholds(max_bytes=1000))
    assert [i.check for i in report.issues] == ["file_too_large"]


def test_shifted_values_are_warnings_not_errors(frame, schema):
    def shift(f):
        f["mean_radius"] = f["mean_radius"] * 3

    report, typed = validate_csv(_edit(frame, shift), schema)
    assert report.passed and typed is not None
    assert {("out_of_range", "warning"), ("mean_shift", "warning")} <= checks(report)


def test_a_header_wider_than_the_limit_is_rejected_before_parsing(schema):
    # Rows that do not even match the header: parsing them would report more than the width.
    header = ",".join(f"c{i}" for i in range(100_000)).encode()
    report, typed = validate_csv(header + b"\n1,2\n\x00\x00\n", schema)
    assert typed is None
    assert [i.check for i in report.issues] == ["too_many_columns"]
    assert "100000 columns, over the limit of 2000" in report.issues[0].message


def test_a_huge_cell_or_column_name_is_quoted_as_an_excerpt(frame, schema):
    def poison(f):
        f["mean_radius"] = f["mean_radius"].astype(object)
        f.loc[3, "mean_radius"] = "x" * 5_000_000
        f["y" * 100_000] = 1

    report, _ = validate_csv(_edit(frame, poison), schema)
    assert {"type_mismatch", "unexpected_column"} <= {i.check for i in report.errors}
    assert len(report.model_dump_json()) < 5_000
    assert "(5000000 characters)" in report.summary()
    assert "(100000 characters)" in report.summary()


def test_a_column_name_too_long_for_csv_is_rejected_not_raised(csv_bytes, schema):
    report, _ = validate_csv(b"z" * 200_000 + b"," + csv_bytes, schema)
    assert [i.check for i in report.issues] == ["unparseable"]
