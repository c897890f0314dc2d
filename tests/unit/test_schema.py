import pandas as pd
import pytest
from pydantic import ValidationError

from training.schema import DatasetSchema, SchemaError, infer_schema


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
