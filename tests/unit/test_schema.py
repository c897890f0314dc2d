import io

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from mlops_template.training.datasets import TARGET
from mlops_template.training.schema import DatasetSchema, SchemaError, infer_schema


def test_inferred_schema_describes_numeric_columns_and_the_target(schema, frame):
    assert len(schema.columns) == 30
    radius = schema.column("mean_radius")
    assert radius.kind == "numeric"
    assert radius.min == pytest.approx(frame["mean_radius"].min())
    assert radius.max == pytest.approx(frame["mean_radius"].max())
    assert not radius.nullable
    assert schema.target.classes == ["benign", "malignant"]
    assert schema.target.positive_class == "malignant"  # the minority class


def test_text_columns_become_categoricals_and_missing_values_make_a_column_nullable():
    df = pd.DataFrame(
        {
            "city": ["a", "b", None, "a"],
            "age": [1, 2, 3, None],
            "flag": [True, False, True, True],
            "y": ["n", "y", "n", "y"],
        }
    )
    schema = infer_schema(df, "y")
    city = schema.column("city")
    assert (city.kind, city.categories, city.nullable) == ("categorical", ["a", "b"], True)
    assert schema.column("age").nullable
    assert schema.column("age").kind == "numeric"
    assert schema.column("flag").dtype == "boolean"


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_a_record_refuses_non_finite_numbers_in_numeric_and_categorical_fields(number):
    df = pd.DataFrame({"city": ["a", "b", "a"], "age": [1.0, 2.0, 3.0], "y": ["n", "y", "n"]})
    record = infer_schema(df, "y").record_model
    assert record.model_validate_json('{"city": 12, "age": 1}').city == "12"  # a zip code
    for field, body in (
        ("age", f'{{"city": "a", "age": {number}}}'),
        ("city", f'{{"city": {number}, "age": 1}}'),
    ):
        with pytest.raises(ValidationError) as caught:
            record.model_validate_json(body)
        [error] = caught.value.errors()
        assert (error["loc"], error["type"]) == ((field,), "finite_number")


def test_schema_round_trips_through_json(schema):
    again = DatasetSchema.from_json(schema.to_json())
    assert again == schema
    assert again.fingerprint() == schema.fingerprint()


@pytest.mark.parametrize(
    ("data", "target", "message"),
    [
        ({"x": [1, 2], "y": ["a", "a"]}, "y", "at least two classes"),
        ({"x": [1, 2]}, "y", "not in the data"),
        ({"y": ["a", "b"]}, "y", "no feature columns"),
    ],
)
def test_schema_inference_refuses_data_it_cannot_describe(data, target, message):
    with pytest.raises(SchemaError, match=message):
        infer_schema(pd.DataFrame(data), target)


def test_record_model_rejects_strings_infinities_and_unknown_fields(schema):
    record = {c: 1.0 for c in schema.feature_names}
    schema.record_model.model_validate(record)
    for bad in (
        {"mean_radius": "large"},
        {"mean_radius": float("inf")},
        {"extra": 1},
        {"mean_radius": True},
        {"mean_radius": 1e39},
    ):
        with pytest.raises(ValidationError) as info:
            schema.record_model.model_validate({**record, **bad})
        assert info.value.errors()[0]["loc"] == (next(iter(bad)),)
    missing = dict(record)
    del missing["worst_area"]
    with pytest.raises(ValidationError, match="worst_area"):
        schema.record_model.model_validate(missing)


def test_identifiers_and_constant_columns_are_excluded_from_the_features(customers_csv):
    frame = pd.read_csv(io.BytesIO(customers_csv))
    schema = infer_schema(frame, TARGET)
    assert [(c.name, c.reason) for c in schema.excluded_columns] == [
        ("customer_id", "id_like"),
        ("source", "constant"),
    ]
    assert "customer_id" not in schema.feature_names and "source" not in schema.feature_names
    assert len(schema.feature_names) == 30
    kept = infer_schema(frame, TARGET, keep=["source"])
    assert kept.column("source").kind == "categorical" and kept.excluded_names == ["customer_id"]


def test_only_text_ids_and_row_numbers_count_as_identifiers():
    rng = np.random.default_rng(0)
    rows = 40
    frame = pd.DataFrame(
        {
            "row_number": range(1, rows + 1),
            "price": rng.normal(size=rows),  # distinct in every row, and a real feature
            "income": rng.permutation(rows) * 1000,  # distinct integers, not consecutive
            "y": ["a", "b"] * (rows // 2),
        }
    )
    schema = infer_schema(frame, "y")
    assert schema.excluded_names == ["row_number"]
    assert schema.feature_names == ["price", "income"]


def test_records_may_carry_excluded_columns_but_no_other_unknown_field(customers_csv):
    schema = infer_schema(pd.read_csv(io.BytesIO(customers_csv)), TARGET)
    record = {c: 1.0 for c in schema.feature_names}
    with_ids = schema.record_model.model_validate({**record, "customer_id": "C1", "source": "x"})
    assert with_ids.model_dump() == record
    assert schema.record_model.model_validate(record).model_dump() == record
    with pytest.raises(ValidationError, match="colour"):
        schema.record_model.model_validate({**record, "colour": "red"})


def test_the_target_records_the_type_of_its_labels():
    target = infer_schema(pd.DataFrame({"x": [1, 2, 3, 4], "y": [0, 1, 0, 1]}), "y").target
    assert (target.dtype, target.classes) == ("integer", ["0", "1"])
    assert target.label_values() == {"0": 0, "1": 1}
    named = [target.class_of(v) for v in (1, "1", 1.0, " 1 ", True, 2, 0.5, "one", 1e400)]
    assert named == ["1", "1", "1", "1", None, None, None, None, None]
    flags = infer_schema(pd.DataFrame({"x": [1, 2], "y": [True, False]}), "y").target
    assert flags.label_values() == {"False": False, "True": True}
    assert [flags.class_of(v) for v in (True, "true", 1)] == ["True", "True", None]
    words = infer_schema(pd.DataFrame({"x": [1, 2], "y": ["no", "yes"]}), "y").target
    assert (words.dtype, words.class_of("yes"), words.class_of(0)) == ("string", "yes", None)


def test_a_constant_column_is_described_by_its_value_as_written():
    frame = pd.DataFrame({"x": range(40), "level": [7] * 40, "y": [0, 1] * 20})
    schema = infer_schema(frame.assign(x=frame.x * 1.5), "y")
    [constant] = schema.excluded_columns
    assert constant.detail == "constant: always 7"  # not numpy's np.int64(7)
