"""How a shadow model compares with the model it shadows, from the prediction log.

The API scores every request with the shadow too (core/serving/scoring.py `Scorer._shadow`);
a captured request keeps both answers: the served one under its prediction id, the shadow's
under `<id>-shadow` with stage "shadow". Feedback is attached to the served id, so the shadow's
accuracy is measured on the served rows' true labels.
"""

from __future__ import annotations

import heapq
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel, Field

from mlops_template.core.captures import CapturePart
from mlops_template.core.ports import PredictionLog
from mlops_template.core.records import PredictionRecord

SHADOW_SUFFIX = "-shadow"
# Captures one pass of `shadow_window_report` holds to pair them; past it, the ids are split
# into more buckets (a pass each), so memory stays under this whatever the window holds.
PAIRS_PER_PASS = 500_000


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
    captured: int | None = Field(
        default=None,
        description="Captures of the window read (served and shadow): all of them. None when "
        "the report came from a list of records.",
    )
    window_start: str = ""
    window_end: str = ""
    passes: int = Field(default=1, description="Passes over the window (one per id bucket).")


@dataclass
class _Tally:
    """A shadow report's figures, pair by pair: nothing per pair is kept but the newest few
    disagreements."""

    examples: int
    pairs: int = 0
    agreeing: int = 0
    totals: Counter[str] = field(default_factory=Counter)
    agree_by_class: Counter[str] = field(default_factory=Counter)
    shadow_versions: set[int] = field(default_factory=set)
    served_versions: set[int] = field(default_factory=set)
    labelled: int = 0
    served_right: int = 0
    shadow_right: int = 0
    newest: list[tuple[str, str, Disagreement]] = field(default_factory=list)

    def add(
        self,
        pid: str,
        served: tuple[int, str, str],
        shadow: tuple[int, str],
        truth: str | None,
    ) -> None:
        (served_version, served_label, at), (shadow_version, shadow_label) = served, shadow
        same = served_label == shadow_label
        self.pairs += 1
        self.agreeing += same
        self.totals[served_label] += 1
        self.agree_by_class[served_label] += same
        self.served_versions.add(served_version)
        self.shadow_versions.add(shadow_version)
        if truth is not None:
            self.labelled += 1
            self.served_right += served_label == truth
            self.shadow_right += shadow_label == truth
        if not same and self.examples:
            item = (
                at,
                pid,
                Disagreement(
                    prediction_id=pid,
                    served_version=served_version,
                    served_label=served_label,
                    shadow_label=shadow_label,
                    true_label=truth,
                ),
            )
            if len(self.newest) < self.examples:
                heapq.heappush(self.newest, item)
            else:
                heapq.heappushpop(self.newest, item)

    def report(self, model: str, **extra: object) -> ShadowReport:
        return ShadowReport(
            model=model,
            shadow_versions=sorted(self.shadow_versions),
            served_versions=sorted(self.served_versions),
            pairs=self.pairs,
            agreement=self.agreeing / self.pairs if self.pairs else None,
            per_class=[
                ClassAgreement(label=label, pairs=n, agreement=self.agree_by_class[label] / n)
                for label, n in sorted(self.totals.items())
            ],
            disagreements=[d for *_, d in sorted(self.newest, reverse=True)],
            labelled=self.labelled,
            served_accuracy=self.served_right / self.labelled if self.labelled else None,
            shadow_accuracy=self.shadow_right / self.labelled if self.labelled else None,
            **extra,  # type: ignore[arg-type]
        )


class _TooMany(Exception):
    """One pass would hold more than its share of captures: split the ids further."""


def shadow_window_report(
    log: PredictionLog,
    model: str,
    start: datetime,
    end: datetime,
    *,
    examples: int = 10,
    pairs_per_pass: int = PAIRS_PER_PASS,
) -> ShadowReport:
    """The shadow report over every capture of [start, end), read object by object as column
    blocks (`PredictionLog.columns`, as the monitor reads them). A pair's two answers sit in
    different objects (the layout partitions by version), so a pass keeps the captures of one
    bucket of prediction ids (CRC-32 of the served id) until the window is read, pairs them,
    and forgets them; the bucket count grows (x4) until a pass holds at most `pairs_per_pass`
    captures."""
    labels = log.feedback(model, since=start.isoformat())
    parts = log.parts(model, start, end)
    buckets = 1
    while True:
        tally = _Tally(examples)
        try:
            # Every pass reads the whole window (keeping one bucket): the count is one pass's.
            captured = max(
                _shadow_pass(log, parts, start, end, labels, tally, buckets, b, pairs_per_pass)
                for b in range(buckets)
            )
        except _TooMany:
            buckets *= 4
            continue
        return tally.report(
            model,
            captured=captured,
            window_start=start.isoformat(),
            window_end=end.isoformat(),
            passes=buckets,
        )


def _shadow_pass(
    log: PredictionLog,
    parts: Sequence[CapturePart],
    start: datetime,
    end: datetime,
    labels: Mapping[str, str],
    tally: _Tally,
    buckets: int,
    bucket: int,
    limit: int,
) -> int:
    """One bucket's pairs into `tally`; returns the captures of the window read."""
    served: dict[str, tuple[int, str, str]] = {}
    shadows: dict[str, tuple[int, str]] = {}
    read = 0
    for part in parts:
        version = part.version
        for block in log.columns(part, [], [], start, end, shadow=True):
            read += block.rows
            rows = zip(
                block.prediction_ids.to_pylist(),
                block.stages.to_pylist(),
                block.labels.to_pylist(),
                block.at.to_pylist(),
                strict=True,
            )
            for pid, stage, label, at in rows:
                is_shadow = stage == "shadow"
                if is_shadow and not pid.endswith(SHADOW_SUFFIX):
                    continue
                key = pid.removesuffix(SHADOW_SUFFIX) if is_shadow else pid
                if buckets > 1 and zlib.crc32(key.encode()) % buckets != bucket:
                    continue
                if is_shadow:
                    shadows[key] = (version, label or "")
                else:
                    served[key] = (version, label or "", at.isoformat())
                if len(served) + len(shadows) > limit:
                    raise _TooMany
    for key, answer in served.items():
        twin = shadows.get(key)
        if twin is not None:
            tally.add(key, answer, twin, labels.get(key))
    return read


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
