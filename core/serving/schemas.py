"""What the API's operations take and answer: the pydantic models behind its OpenAPI spec.

A prediction's records are validated against the served version's own record model (see
`Scorer.request_model`); `PredictRequest` only documents the body, and the spec shows the served
version's record once one is loaded. `ErrorMessage` and `ValidationErrors` document the error
bodies that `app` and `bodies` answer.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field
from pydantic_core import PydanticCustomError

from mlops_template.core.serving.bodies import MAX_REPORTED_ERRORS
from mlops_template.training.schema import Label


class PredictRequest(BaseModel):
    """Documentation of the body: the fields of a record are the served model's features."""

    records: list[dict[str, Any]] = Field(
        min_length=1, description="Feature records, each validated against the model's schema."
    )


class Prediction(BaseModel):
    prediction_id: str
    label: Label | None = Field(
        default=None,
        description="Classification: the predicted class, typed as the training data's labels "
        "(0, true, 'yes').",
    )
    probability: float | None = Field(
        default=None, description="Classification: probability of the predicted label."
    )
    value: float | None = Field(default=None, description="Regression: the predicted value.")
    interval: list[float] | None = Field(
        default=None,
        description="Regression, when the model was calibrated: [low, high], meant to hold the "
        "true value as often as the model's `interval_coverage` says (split conformal).",
    )
    probabilities: dict[str, float] | None = Field(
        default=None,
        description="Multiclass models only: the probability of every class, keyed by the "
        "class as text.",
    )


class PredictResponse(BaseModel):
    model: str
    version: int
    stage: str
    predictions: list[Prediction]


def _label_value(value: Any) -> Any:
    """A label as JSON carries it: a boolean, an integer, a finite number or 1..256 characters.
    One check (not a union of types) so that a wrong label is one error at `label`."""
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, str) and 1 <= len(value) <= 256:
        return value
    raise PydanticCustomError(
        "label_type",
        "label must be a boolean, an integer, a finite number or a string of 1 to 256 characters",
    )


class FeedbackRequest(BaseModel):
    prediction_id: str = Field(min_length=1, max_length=64)
    label: Annotated[Label, BeforeValidator(_label_value)] = Field(
        description="The truth: a class (a label equal to a class once converted to its type), "
        "or for a regression model the true value, a number."
    )


class FeedbackResponse(BaseModel):
    status: str
    prediction_id: str


class CaptureHealth(BaseModel):
    status: Literal["ok", "failing", "off"] = Field(
        description="failing: the last capture failed (predictions are answered regardless)."
    )
    errors: int = Field(
        default=0,
        description="Captures that failed since this instance started (also the CaptureErrors "
        "metric).",
    )
    reason: str | None = None


class HealthResponse(BaseModel):
    status: str
    model: str
    version: int | None = None
    stage: str
    reason: str | None = None
    capture: CaptureHealth


class ModelInfo(BaseModel):
    model: str
    version: int
    stage: str
    created_at: str
    model_sha256: str
    code_version: str
    data_sha256: str
    metrics: dict[str, float]
    gate: dict[str, Any]
    schema_: dict[str, Any] = Field(alias="schema")
    unknown_categories: dict[str, int] = Field(
        description="Per categorical feature, how many values outside the schema's categories "
        "this instance has scored since it loaded the version (also the UnknownCategories "
        "metric, per request)."
    )


class ErrorMessage(BaseModel):
    detail: str


class ValidationIssue(BaseModel):
    loc: list[str | int]
    msg: str
    type: str
    input: Any = None
    ctx: dict[str, Any] | None = None


class ValidationErrors(BaseModel):
    detail: list[ValidationIssue] = Field(
        description=f"The first {MAX_REPORTED_ERRORS} errors; inputs cut to an excerpt."
    )
    error_count: int = Field(description="How many errors the body has in all.")


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of an operation's errors, in the order given: a 422 is a
    `ValidationErrors`, any other status an `ErrorMessage`."""
    return {s: {"model": ValidationErrors if s == 422 else ErrorMessage} for s in statuses}
