"""What the monitor checks besides drift and accuracy (the ML Test Score's monitoring tests):

- `ModelAgeDays`: days since the served version was trained; its alarm retrains (a model that
  is never refreshed goes stale however calm its inputs look).
- `TrainingServingSkew` (and `SkewedPredictions`): a sample of the captured requests is scored
  again, offline, with the served version's artifact; any answer that differs from what the API
  returned (label, or probability beyond float32 rounding) means the serving path does not
  compute what the registered model computes.
- `OfflineNonFiniteOutputs`: re-scored outputs that are NaN or infinite (the API counts its
  own as `NonFiniteOutputs` per request).
- `OfflineAccuracy` beside `FeedbackAccuracy`, and `OfflineOnlineGap` (offline minus live):
  the held-out accuracy the gate saw against what feedback says now.

Dimensions are model and stage, like the monitor's other figures, so an alarm keeps watching
whatever version the stage serves.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
from pydantic import BaseModel, Field

from mlops_template.core.artifacts import read_verified
from mlops_template.core.backend import Backend
from mlops_template.core.records import ModelVersion, PredictionRecord
from mlops_template.training.files import MODEL_FILE, SCHEMA_FILE
from mlops_template.training.onnx_model import OnnxClassifier, OnnxRegressor, load_onnx_model
from mlops_template.training.schema import DatasetSchema

MODEL_AGE_METRIC = "ModelAgeDays"
SKEW_METRIC = "TrainingServingSkew"
SKEWED_COUNT_METRIC = "SkewedPredictions"
OFFLINE_NON_FINITE_METRIC = "OfflineNonFiniteOutputs"
NON_FINITE_METRIC = "NonFiniteOutputs"  # the API's, per request (core/serving/scoring.py)
OFFLINE_ACCURACY_METRIC = "OfflineAccuracy"
GAP_METRIC = "OfflineOnlineGap"

SKEW_SAMPLE = 200
# The API rounds probabilities to 6 places and ONNX computes in float32.
PROBABILITY_TOLERANCE = 1e-5
MIN_FEEDBACK_FOR_GAP = 30


class SkewExample(BaseModel):
    prediction_id: str
    served_label: str
    rescored_label: str
    served_probability: float | None
    rescored_probability: float | None
    served_value: float | None = None  # regression
    rescored_value: float | None = None


class HealthReport(BaseModel):
    model_age_days: float
    rescored: int = Field(description="Captured requests scored again offline.")
    skewed: int
    skew_share: float | None
    non_finite: int
    skew_examples: list[SkewExample] = Field(default_factory=list)
    offline_accuracy: float | None
    online_accuracy: float | None
    gap: float | None


def model_age_days(version: ModelVersion, now: datetime | None = None) -> float:
    created = datetime.fromisoformat(version.created_at)
    created = created if created.tzinfo else created.replace(tzinfo=UTC)
    return max(0.0, ((now or datetime.now(UTC)) - created).total_seconds() / 86400)


def rescore(
    classifier: OnnxClassifier, captured: Sequence[PredictionRecord]
) -> tuple[int, int, list[SkewExample]]:
    """(skewed, non-finite, examples) of the captured predictions scored again."""
    if not captured:
        return 0, 0, []
    labels, probabilities = classifier.predict_records([p.features for p in captured])
    finite = np.isfinite(probabilities).all(axis=1)
    top = np.where(finite, np.nan_to_num(probabilities, nan=-1.0).max(axis=1), np.nan)
    skewed: list[SkewExample] = []
    for record, label, p, ok in zip(captured, labels, top.tolist(), finite.tolist(), strict=True):
        served = record.probability
        if (
            label != record.label
            or not ok
            or served is None
            or abs(p - served) > PROBABILITY_TOLERANCE
        ):
            skewed.append(
                SkewExample(
                    prediction_id=record.prediction_id,
                    served_label=record.label,
                    rescored_label=label,
                    served_probability=record.probability,
                    rescored_probability=p if ok else None,
                )
            )
    return len(skewed), int((~finite).sum()), skewed[:10]


def rescore_values(
    regressor: OnnxRegressor, captured: Sequence[PredictionRecord]
) -> tuple[int, int, list[SkewExample]]:
    """`rescore` for a regression: a value differs beyond float32 rounding, relative to its size."""
    if not captured:
        return 0, 0, []
    values = regressor.predict_records([p.features for p in captured])
    finite = np.isfinite(values)
    skewed: list[SkewExample] = []
    for record, v, ok in zip(captured, values.tolist(), finite.tolist(), strict=True):
        served = record.value
        if (
            not ok
            or served is None
            or not abs(v - served) <= PROBABILITY_TOLERANCE * max(1.0, abs(served))
        ):
            skewed.append(
                SkewExample(
                    prediction_id=record.prediction_id,
                    served_label="",
                    rescored_label="",
                    served_probability=None,
                    rescored_probability=None,
                    served_value=served,
                    rescored_value=v if ok else None,
                )
            )
    return len(skewed), int((~finite).sum()), skewed[:10]


def run_health_checks(
    backend: Backend,
    current: ModelVersion,
    captured: Sequence[PredictionRecord],
    online_accuracy: float | None,
    feedback_count: int,
    *,
    stage: str = "production",
    sample: int = SKEW_SAMPLE,
    seed: int | None = None,
    now: datetime | None = None,
) -> HealthReport:
    """Publish the figures above for the version `stage` serves; `captured` are its captures
    (the monitor's), `online_accuracy` its feedback accuracy over `feedback_count` labels."""
    dims = {"model": current.model, "stage": stage}
    age = model_age_days(current, now)
    backend.metrics.put(MODEL_AGE_METRIC, age, dimensions=dims)

    rng = random.Random(seed)
    chosen = list(captured) if len(captured) <= sample else rng.sample(list(captured), sample)
    skewed = non_finite = 0
    examples: list[SkewExample] = []
    if chosen:
        schema = DatasetSchema.from_json(
            read_verified(backend.artifacts, current.artifacts[SCHEMA_FILE])
        )
        scorer = load_onnx_model(
            read_verified(backend.artifacts, current.artifacts[MODEL_FILE]), schema
        )
        if isinstance(scorer, OnnxRegressor):
            skewed, non_finite, examples = rescore_values(scorer, chosen)
        else:
            skewed, non_finite, examples = rescore(scorer, chosen)
        backend.metrics.put(SKEW_METRIC, skewed / len(chosen), dimensions=dims)
        backend.metrics.put(SKEWED_COUNT_METRIC, skewed, unit="Count", dimensions=dims)
        backend.metrics.put(OFFLINE_NON_FINITE_METRIC, non_finite, unit="Count", dimensions=dims)

    offline = current.metrics.get("accuracy")
    gap = None
    if offline is not None:
        backend.metrics.put(OFFLINE_ACCURACY_METRIC, offline, dimensions=dims)
        if online_accuracy is not None and feedback_count >= MIN_FEEDBACK_FOR_GAP:
            gap = offline - online_accuracy
            backend.metrics.put(GAP_METRIC, gap, dimensions=dims)
    return HealthReport(
        model_age_days=age,
        rescored=len(chosen),
        skewed=skewed,
        skew_share=skewed / len(chosen) if chosen else None,
        non_finite=non_finite,
        skew_examples=examples,
        offline_accuracy=offline,
        online_accuracy=online_accuracy,
        gap=gap,
    )
