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
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AllowInfNan,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    create_model,
)
from pydantic_core import PydanticCustomError

if TYPE_CHECKING:
    import pandas as pd

ColumnKind = Literal["numeric", "categorical"]
ColumnType = Literal["float", "integer", "boolean", "string"]

# The value a missing categorical takes inside the model: ONNX string tensors have no null.
MISSING_CATEGORY = ""
# Beyond this a number does not fit the float32 the model computes in.
FLOAT32_MAX = 3.4028234663852886e38
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


class TargetSchema(BaseModel):
    name: str
    classes: list[str]
    positive_class: str | None = Field(
        default=None, description="The class that precision, recall and ROC AUC refer to (binary)."
    )
    class_ratios: dict[str, float] = Field(default_factory=dict)


class DatasetSchema(BaseModel):
    """Features and target of a tabular classification data set."""

    model_config = ConfigDict(frozen=True)

    format_version: int = 1
    columns: list[ColumnSchema]
    target: TargetSchema
    row_count: int

    @property
    def feature_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def numeric_features(self) -> list[str]:
        return [c.name for c in self.columns if c.kind == "numeric"]

    @property
    def categorical_features(self) -> list[str]:
        return [c.name for c in self.columns if c.kind == "categorical"]

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
        contract.append((self.target.name, "target", "string", self.target.classes))
        return hashlib.sha256(json.dumps(contract).encode()).hexdigest()[:16]

    @cached_property
    def record_model(self) -> type[BaseModel]:
        """A pydantic model of one prediction record: a 422 then names the bad field."""
        fields: dict[str, Any] = {}
        for c in self.columns:
            annotation: Any = ModelNumber if c.kind == "numeric" else ModelCategory
            if c.dtype == "boolean":
                annotation = bool
            if c.nullable:
                fields[c.name] = (annotation | None, None)
            else:
                fields[c.name] = (annotation, ...)
        model: type[BaseModel] = create_model(
            "Record",
            __config__=ConfigDict(extra="forbid", coerce_numbers_to_str=True),
            **fields,
        )
        return model


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
) -> DatasetSchema:
    """Describe a data frame: numeric columns get ranges, text columns become categoricals."""
    import pandas as pd  # training-time only

    if target not in frame.columns:
        raise SchemaError(f"target column {target!r} is not in the data (columns: {list(frame)})")
    labels = frame[target].dropna().astype(str)
    classes = sorted(labels.unique().tolist())
    if len(classes) < 2:
        raise SchemaError(f"target column {target!r} needs at least two classes, found {classes}")
    counts = labels.value_counts(normalize=True)
    if positive_class is None and len(classes) == 2:
        # The minority class is usually the one the user cares about (fraud, churn, malignant).
        positive_class = str(counts.sort_values(kind="stable").index[0])
    if positive_class is not None and positive_class not in classes:
        raise SchemaError(f"positive class {positive_class!r} is not one of {classes}")

    columns: list[ColumnSchema] = []
    for name in frame.columns:
        if name == target:
            continue
        series = frame[name]
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
        raise SchemaError("the data has no feature columns besides the target")
    return DatasetSchema(
        columns=columns,
        target=TargetSchema(
            name=target,
            classes=classes,
            positive_class=positive_class,
            class_ratios={str(k): round(float(v), 6) for k, v in counts.sort_index().items()},
        ),
        row_count=len(frame),
    )
