"""How a shadow model compares with the model it shadows, from the prediction log.

The API scores every request with the shadow too (core/serving/scoring.py `Scorer._shadow`);
a captured request keeps both answers: the served one under its prediction id, the shadow's
under `<id>-shadow` with stage "shadow". Feedback is attached to the served id, so the shadow's
accuracy is measured on the served rows' true labels.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from pydantic import BaseModel, Field

from mlops_template.core.records import PredictionRecord

SHADOW_SUFFIX = "-shadow"


class Disagreement(BaseModel):
    prediction_id: str
    served_version: int
    served_label: str
    shadow_label: str
    true_label: str | None = None


class ClassAgreement(BaseModel):
    label: str = Field(description="The served model's predicted class.")
    pairs: int
    agreement: float


class ShadowReport(BaseModel):
    model: str
    shadow_versions: list[int]
    served_versions: list[int]
    pairs: int = Field(description="Captured predictions the shadow also scored.")
    agreement: float | None
    per_class: list[ClassAgreement]
    disagreements: list[Disagreement] = Field(description="The newest, up to the limit asked.")
    labelled: int = Field(description="Pairs whose served prediction has feedback.")
    served_accuracy: float | None
    shadow_accuracy: float | None


def shadow_report(
    model: str, records: Sequence[PredictionRecord], *, examples: int = 10
) -> ShadowReport:
    """`records` newest first, as PredictionLog.recent returns them."""
    served = {r.prediction_id: r for r in records if r.stage != "shadow"}
    pairs: list[tuple[PredictionRecord, PredictionRecord]] = []
    for r in records:
        if r.stage == "shadow" and r.prediction_id.endswith(SHADOW_SUFFIX):
            twin = served.get(r.prediction_id.removesuffix(SHADOW_SUFFIX))
            if twin is not None:
                pairs.append((twin, r))
    agree = [s.label == h.label for s, h in pairs]
    totals: Counter[str] = Counter(s.label for s, _ in pairs)
    agreeing: Counter[str] = Counter(s.label for s, h in pairs if s.label == h.label)
    labelled = [(s, h) for s, h in pairs if s.true_label is not None]
    return ShadowReport(
        model=model,
        shadow_versions=sorted({h.version for _, h in pairs}),
        served_versions=sorted({s.version for s, _ in pairs}),
        pairs=len(pairs),
        agreement=sum(agree) / len(agree) if agree else None,
        per_class=[
            ClassAgreement(label=label, pairs=n, agreement=agreeing[label] / n)
            for label, n in sorted(totals.items())
        ],
        disagreements=[
            Disagreement(
                prediction_id=s.prediction_id,
                served_version=s.version,
                served_label=s.label,
                shadow_label=h.label,
                true_label=s.true_label,
            )
            for s, h in pairs
            if s.label != h.label
        ][:examples],
        labelled=len(labelled),
        served_accuracy=(
            sum(s.label == s.true_label for s, _ in labelled) / len(labelled) if labelled else None
        ),
        shadow_accuracy=(
            sum(h.label == s.true_label for s, h in labelled) / len(labelled) if labelled else None
        ),
    )
