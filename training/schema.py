"""The data contract: which columns a data set has, their types, ranges and categories.

A schema is inferred once from the first training file, saved as JSON next to every model
version, and then used for three things: validating new data files, validating prediction
requests, and building the feature pipeline. This module imports no pandas at import time so
that the serving path can use it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Collection
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AllowInfNan,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    create_model,
    model_validator,
)
from pydantic_core import PydanticCustomError

if TYPE_CHECKING:
    import pandas as pd

ColumnKind = Literal["numeric", "categorical", "datetime"]
ColumnType = Literal["float", "integer", "boolean", "string", "date", "timestamp"]
ExclusionReason = Literal["id_like", "constant", "personal_data"]
Task = Literal["classification", "regression"]
# A label as the training data typed it; the model itself names classes as text.
Label = bool | int | float | str
_BOOLEAN_WORDS = {"true": True, "false": False}

# The value a missing categorical takes inside the model: ONNX string tensors have no null.
MISSING_CATEGORY = ""
# Beyond this a number does not fit the float32 the model computes in.
FLOAT32_MAX = 3.4028234663852886e38
# Binary labels whose positive class goes without saying.
_CONVENTIONAL_POSITIVE = {
    frozenset({"0", "1"}): "1",
    frozenset({"0.0", "1.0"}): "1.0",
    frozenset({"False", "True"}): "True",
}
# A numeric target with more distinct values than this is a quantity to predict, not classes.
REGRESSION_MIN_DISTINCT = 20
# Fewer rows than this and a text column whose values are all distinct may just be small data.
ID_LIKE_MIN_ROWS = 20
# A request number: a real JSON number (not a string or a bool), finite and float32-sized.
ModelNumber = Annotated[float, Strict(), AllowInfNan(False), Field(ge=-FLOAT32_MAX, le=FLOAT32_MAX)]


def _finite_if_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise PydanticCustomError("finite_number", "Input should be a finite number")
    return value


# A request category: text, or a number taken as its text (a zip code); NaN or an infinity is
# refused like in a numeric field rather than scored as the unknown category "NaN".
ModelCategory = Annotated[str, BeforeValidator(_finite_if_number)]


class SchemaError(ValueError):
    """The data cannot be described by a schema (no target, one class, no features...)."""


class ColumnSchema(BaseModel):
    name: str
    kind: ColumnKind
    dtype: ColumnType
    nullable: bool = False
    missing_ratio: float = 0.0
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None
    categories: list[str] = Field(default_factory=list)
    format: str | None = Field(
        default=None,
        description="Dates: how the text is written ('iso' for ISO 8601, else a strptime "
        "pattern); min and max are then wall-clock seconds since 1970-01-01.",
    )
    timezone: str | None = Field(
        default=None, description="Dates: the zone of naive values and of the calendar features."
    )

    @property
    def derived_names(self) -> list[str]:
        """The model inputs this column is: itself, or a date's calendar features."""
        if self.kind != "datetime":
            return [self.name]
        from mlops_template.training.timefeatures import derived_names

        return derived_names(self.name, self.dtype == "timestamp")

    def derive(self, values: Any) -> list[Any]:
        """A date column's values -> its calendar features (`training.timefeatures.derive`)."""
        from mlops_template.training.timefeatures import ISO, derive

        return derive(
            values,
            self.format or ISO,
            self.timezone or "UTC",
            timestamp=self.dtype == "timestamp",
        )


class ExcludedColumn(BaseModel):
    """A column of the data that is not a feature: validation accepts it, the model ignores it."""

    name: str
    reason: ExclusionReason
    detail: str


class TargetSchema(BaseModel):
    name: str
    task: Task = "classification"
    classes: list[str] = Field(
        default_factory=list,
        description="The classes as text, the way the model names them (classification).",
    )
    positive_class: str | None = Field(
        default=None, description="The class that precision, recall and ROC AUC refer to (binary)."
    )
    class_ratios: dict[str, float] = Field(default_factory=dict)
    dtype: ColumnType = Field(
        default="string",
        description="The type the labels had in the training data: the API answers in it.",
    )
    min: float | None = Field(default=None, description="Regression: the training range.")
    max: float | None = None
    mean: float | None = None
    std: float | None = None

    def label_values(self) -> dict[str, Label]:
        """Each class (as text) -> the label as the training data typed it: "0" -> 0."""
        return {c: _typed_label(c, self.dtype) for c in self.classes}

    def class_of(self, label: Label) -> str | None:
        """The class a label names once converted to the classes' type, else None.

        For integer classes 0, "0" and 0.0 all name class "0"; True does not name class 1.
        """
        value = _convert_label(label, self.dtype)
        if value is None:
            return None
        return next((c for c, typed in self.label_values().items() if typed == value), None)


def _typed_label(text: str, dtype: ColumnType) -> Label:
    if dtype == "integer":
        return int(text)
    if dtype == "float":
        return float(text)
    if dtype == "boolean":
        return text == "True"
    return text


def _convert_label(label: Label, dtype: ColumnType) -> Label | None:
    if dtype == "string":
        return label if isinstance(label, str) else str(label)
    if dtype == "boolean":
        if isinstance(label, str):
            return _BOOLEAN_WORDS.get(label.strip().lower())
        return label if isinstance(label, bool) else None
    if isinstance(label, bool):  # a bool is an int in Python, but never a number label
        return None
    if dtype == "integer" and isinstance(label, str):
        try:
            return int(label)
        except ValueError:
            pass
    try:
        number = float(label)
    except (ValueError, OverflowError):
        return None
    if dtype == "float":
        return number
    if isinstance(label, int):
        return label
    return int(number) if number.is_integer() else None


class DatasetSchema(BaseModel):
    """Features and target of a tabular data set (classification or regression)."""

    model_config = ConfigDict(frozen=True)

    format_version: int = 1
    columns: list[ColumnSchema]
    target: TargetSchema
    row_count: int
    excluded_columns: list[ExcludedColumn] = Field(
        default_factory=list,
        description="Columns of the data left out of the features (identifiers, constants).",
    )

    @property
    def feature_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def excluded_names(self) -> list[str]:
        return [c.name for c in self.excluded_columns]

    @property
    def numeric_features(self) -> list[str]:
        return [c.name for c in self.columns if c.kind == "numeric"]

    @property
    def categorical_features(self) -> list[str]:
        return [c.name for c in self.columns if c.kind == "categorical"]

    @property
    def datetime_features(self) -> list[str]:
        return [c.name for c in self.columns if c.kind == "datetime"]

    @property
    def model_columns(self) -> list[tuple[str, bool]]:
        """The model's inputs in order, and whether each is numeric: the features, with each
        date column replaced by its calendar features (numbers)."""
        out: list[tuple[str, bool]] = []
        for c in self.columns:
            if c.kind == "datetime":
                out.extend((name, True) for name in c.derived_names)
            else:
                out.append((c.name, c.kind == "numeric"))
        return out

    @property
    def numeric_model_columns(self) -> list[str]:
        return [name for name, numeric in self.model_columns if numeric]

    def column(self, name: str) -> ColumnSchema:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str | bytes) -> DatasetSchema:
        return cls.model_validate_json(text)

    def fingerprint(self) -> str:
        """A hash of the contract only (names, kinds, types, categories), not of the statistics."""
        contract: list[tuple[str, str, str, list[str]]] = [
            (c.name, c.kind, c.dtype, c.categories) for c in self.columns
        ]
        contract.append((self.target.name, "target", self.target.dtype, self.target.classes))
        if self.target.task != "classification":  # classification keeps its earlier hashes
            contract.append((self.target.name, "task", self.target.task, []))
        return hashlib.sha256(json.dumps(contract).encode()).hexdigest()[:16]

    @cached_property
    def record_model(self) -> type[BaseModel]:
        """A pydantic model of one prediction record: a 422 then names the bad field.

        Excluded columns may be sent (a record can be a row of the training file) and are
        dropped before validation; any other unknown field is an error.
        """
        fields: dict[str, Any] = {}
        for c in self.columns:
            annotation: Any = ModelNumber if c.kind == "numeric" else ModelCategory
            if c.kind == "datetime":
                annotation = _date_field(c)
            elif c.dtype == "boolean":
                annotation = bool
            if c.nullable:
                fields[c.name] = (annotation | None, None)
            else:
                fields[c.name] = (annotation, ...)
        config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)
        excluded = frozenset(self.excluded_names)
        if not excluded:
            model: type[BaseModel] = create_model("Record", __config__=config, **fields)
            return model

        def drop_excluded(data: Any) -> Any:
            if isinstance(data, dict) and not excluded.isdisjoint(data):
                return {k: v for k, v in data.items() if k not in excluded}
            return data

        def document_excluded(schema: dict[str, Any]) -> None:
            for c in self.excluded_columns:
                schema["properties"][c.name] = {
                    "description": f"Not a feature ({c.detail}): accepted and ignored."
                }

        config["json_schema_extra"] = document_excluded
        validators: dict[str, Any] = {
            "drop_excluded": model_validator(mode="before")(drop_excluded)
        }
        return create_model("Record", __config__=config, __validators__=validators, **fields)


def _date_field(column: ColumnSchema) -> Any:
    """A request date: text in the column's format; a 422 names the field otherwise."""
    from mlops_template.training.timefeatures import ISO, parse

    fmt = column.format or ISO
    shown = "ISO 8601 (2024-03-01 or 2024-03-01T08:00:00+00:00)" if fmt == ISO else repr(fmt)

    def check(text: str) -> str:
        try:
            parse(text, fmt)
        except (ValueError, OverflowError):
            raise PydanticCustomError(
                "date_format", "Input should be a date in {format}", {"format": shown}
            ) from None
        return text

    return Annotated[str, Strict(), AfterValidator(check)]


def _finite_or_none(value: Any) -> float | None:
    if value is None:
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def infer_schema(
    frame: pd.DataFrame,
    target: str,
    *,
    max_categories: int = 50,
    positive_class: str | None = None,
    keep: Collection[str] = (),
    task: Task | None = None,
    allow_personal: Collection[str] = (),
    time_column: str | None = None,
    timezone: str = "UTC",
) -> DatasetSchema:
    """Describe a data frame: numeric columns get ranges, text columns become categoricals,
    dates and timestamps become date columns (never categories; see `training.timefeatures`).

    Identifiers and constant columns carry nothing a model can learn from and are excluded
    from the features, unless named in `keep`. Columns that look like personal data
    (training/privacy.py) are excluded unless named in `allow_personal`. The task is inferred
    from the target unless given (see `infer_task`).
    """
    import pandas as pd  # training-time only

    if target not in frame.columns:
        raise SchemaError(f"target column {target!r} is not in the data (columns: {list(frame)})")
    if time_column is not None and time_column not in frame.columns:
        raise SchemaError(
            f"time column {time_column!r} is not in the data (columns: {list(frame)})"
        )
    if time_column == target:
        raise SchemaError(f"time column {time_column!r} is the target")
    task = task or infer_task(frame[target])
    target_schema = (
        _regression_target(frame[target], target)
        if task == "regression"
        else _classification_target(frame[target], target, positive_class)
    )

    columns: list[ColumnSchema] = []
    excluded: list[ExcludedColumn] = []
    for name in frame.columns:
        if name == target:
            continue
        series = frame[name]
        # Before the personal-data check: "2024-03-01" reads as a phone number there.
        dated = _date_column(str(name), series, timezone, required=name == time_column)
        if dated is not None:
            columns.append(dated)
            continue
        if name not in allow_personal and (personal := _personal(str(name), series)) is not None:
            excluded.append(personal)
            continue
        if name not in keep and (exclusion := _exclusion(str(name), series)) is not None:
            excluded.append(exclusion)
            continue
        missing_ratio = float(series.isna().mean())
        nullable = missing_ratio > 0
        if pd.api.types.is_bool_dtype(series):
            columns.append(
                ColumnSchema(
                    name=str(name),
                    kind="categorical",
                    dtype="boolean",
                    nullable=nullable,
                    missing_ratio=missing_ratio,
                    categories=["False", "True"],
                )
            )
        elif pd.api.types.is_numeric_dtype(series):
            values = series.dropna().astype(float)
            columns.append(
                ColumnSchema(
                    name=str(name),
                    kind="numeric",
                    dtype="integer" if pd.api.types.is_integer_dtype(series) else "float",
                    nullable=nullable,
                    missing_ratio=missing_ratio,
                    min=_finite_or_none(values.min()) if len(values) else None,
                    max=_finite_or_none(values.max()) if len(values) else None,
                    mean=_finite_or_none(values.mean()) if len(values) else None,
                    std=_finite_or_none(values.std(ddof=0)) if len(values) else None,
                )
            )
        else:
            top = series.dropna().astype(str).value_counts().sort_index(kind="stable")
            top = top.sort_values(ascending=False, kind="stable").head(max_categories)
            columns.append(
                ColumnSchema(
                    name=str(name),
                    kind="categorical",
                    dtype="string",
                    nullable=nullable,
                    missing_ratio=missing_ratio,
                    categories=sorted(top.index.tolist()),
                )
            )
    if not columns:
        dropped = f" ({len(excluded)} excluded: {[c.name for c in excluded]})" if excluded else ""
        raise SchemaError(f"the data has no feature columns besides the target{dropped}")
    return DatasetSchema(
        columns=columns,
        target=target_schema,
        row_count=len(frame),
        excluded_columns=excluded,
    )


def _date_column(
    name: str, series: pd.Series, timezone: str, *, required: bool
) -> ColumnSchema | None:
    """The column as a date column when every value reads as a date in one format (or it is
    the configured time column, which must); None otherwise. A column of one date is no date
    column (it is excluded as a constant like any other)."""
    import pandas as pd

    from mlops_template.training import timefeatures

    try:
        timefeatures.zone(timezone)
    except ValueError as exc:
        raise SchemaError(f"time.timezone: {exc}") from exc
    present = series.dropna()
    if pd.api.types.is_datetime64_any_dtype(series):
        midnight = bool((present.dt.normalize() == present).all())
        texts = [t.date().isoformat() if midnight else t.isoformat() for t in present.unique()]
    elif pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series):
        texts = [str(v).strip() for v in present.astype(str).unique()]
    else:
        texts = []
    if not required and (not texts or present.nunique() <= 1):
        return None
    fmt = timefeatures.detect_format(texts)
    if fmt is None:
        if required:
            sample = next((t for t in texts if _unreadable(t)), texts[0] if texts else None)
            raise SchemaError(
                f"time column {name!r} is not a date or timestamp column"
                + (f" (e.g. {sample[:40]!r})" if sample is not None else " (it is empty)")
                + f"; formats read: ISO 8601, {', '.join(timefeatures.FORMATS[1:])}"
            )
        return None
    wall, _ = timefeatures.seconds(texts, fmt, timezone)
    missing_ratio = float(series.isna().mean())
    timestamp = any(timefeatures.has_time(t, fmt) for t in texts)
    return ColumnSchema(
        name=name,
        kind="datetime",
        dtype="timestamp" if timestamp else "date",
        nullable=missing_ratio > 0,
        missing_ratio=missing_ratio,
        min=float(wall.min()),
        max=float(wall.max()),
        format=fmt,
        timezone=timezone,
    )


def _unreadable(text: str) -> bool:
    from mlops_template.training import timefeatures

    return timefeatures.detect_format([text]) is None


def infer_task(labels: pd.Series) -> Task:
    """Regression for a numeric target with many distinct values (a price, a delay in minutes);
    classification otherwise (text, booleans, or a few codes such as 0/1/2)."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(labels) or not pd.api.types.is_numeric_dtype(labels):
        return "classification"
    return "regression" if labels.nunique() > REGRESSION_MIN_DISTINCT else "classification"


def _classification_target(
    series: pd.Series, target: str, positive_class: str | None
) -> TargetSchema:
    labels = series.dropna().astype(str)
    classes = sorted(labels.unique().tolist())
    if len(classes) < 2:
        raise SchemaError(f"target column {target!r} needs at least two classes, found {classes}")
    counts = labels.value_counts(normalize=True)
    if positive_class is None and len(classes) == 2:
        # 1 / True is the positive class by convention; otherwise the minority class is
        # usually the one the user cares about (fraud, churn, malignant).
        positive_class = _CONVENTIONAL_POSITIVE.get(frozenset(classes)) or str(
            counts.sort_values(kind="stable").index[0]
        )
    if positive_class is not None and positive_class not in classes:
        raise SchemaError(f"positive class {positive_class!r} is not one of {classes}")
    return TargetSchema(
        name=target,
        classes=classes,
        positive_class=positive_class,
        class_ratios={str(k): round(float(v), 6) for k, v in counts.sort_index().items()},
        dtype=_column_type(series),
    )


def _regression_target(series: pd.Series, target: str) -> TargetSchema:
    import pandas as pd

    if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        raise SchemaError(f"a regression target must be numeric; {target!r} is {series.dtype}")
    values = series.dropna().astype(float)
    if values.nunique() < 2:
        raise SchemaError(f"regression target {target!r} needs at least two distinct values")
    return TargetSchema(
        name=target,
        task="regression",
        dtype="float",
        min=_finite_or_none(values.min()),
        max=_finite_or_none(values.max()),
        mean=_finite_or_none(values.mean()),
        std=_finite_or_none(values.std(ddof=0)),
    )


def _column_type(series: pd.Series) -> ColumnType:
    import pandas as pd

    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_integer_dtype(series):
        return "integer"
    if pd.api.types.is_float_dtype(series):
        return "float"
    return "string"


def _personal(name: str, series: pd.Series) -> ExcludedColumn | None:
    from mlops_template.training.privacy import detect_column

    kind = detect_column(series)
    if kind is None:
        return None
    return ExcludedColumn(
        name=name,
        reason="personal_data",
        detail=f"personal data: looks like {kind}",
    )


def _exclusion(name: str, series: pd.Series) -> ExcludedColumn | None:
    """Why a column is no feature: one value in every row, or a different one in every row.

    Only text columns and consecutive integers count as identifiers: a measurement (a price, a
    radius) can be distinct in every row and still be the most useful feature.
    """
    import pandas as pd

    if series.nunique(dropna=False) <= 1:
        values = series.dropna()
        first: Any = values.iloc[0] if len(values) else None
        first = first.item() if hasattr(first, "item") else first  # 7, not np.int64(7)
        value = "empty" if first is None else f"always {first!r}"
        return ExcludedColumn(name=name, reason="constant", detail=f"constant: {value}")
    values = series.dropna()
    if len(values) < ID_LIKE_MIN_ROWS or not values.is_unique:
        return None
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_float_dtype(series):
        return None
    if pd.api.types.is_integer_dtype(series):
        if int(values.max()) - int(values.min()) + 1 != len(values):
            return None
        detail = "consecutive integers, one per row"
    else:
        detail = "a different value in every row"
    return ExcludedColumn(name=name, reason="id_like", detail=f"identifier: {detail}")


def infer_schema_from(
    data: Any,
    target: str,
    *,
    sample_rows: int | None = None,
    name: str | None = None,
    **options: Any,
) -> DatasetSchema:
    """`infer_schema` on a CSV or Parquet file (bytes, path or binary stream) of any size.

    Reads a uniform random sample of `sample_rows` rows (default
    `tabular_io.SCHEMA_SAMPLE_ROWS`, 100,000; every row of a smaller file), so memory depends
    on the sample, not the file; `row_count` is the file's. Ranges, categories and class ratios
    are then the sample's: a category or class rarer than about 1 in 100,000 may be missed.
    """
    from mlops_template.training import tabular_io

    frame, total = tabular_io.read_sample(
        data, rows=sample_rows or tabular_io.SCHEMA_SAMPLE_ROWS, name=name
    )
    schema = infer_schema(frame, target, **options)
    return schema.model_copy(update={"row_count": total})
