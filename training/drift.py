"""Drift statistics: a reference profile saved at training time, compared with live inputs.

Per numeric feature the profile keeps quantile bins (for the Population Stability Index) and a
sample of values (for the two-sample Kolmogorov-Smirnov test); per categorical feature, the share
of each category. A numeric feature has drifted when both PSI and KS agree, which keeps small
samples from raising false alarms; a categorical one when its PSI passes the threshold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import ArrayLike
from pydantic import BaseModel, Field

from mlops_template.training.config import DriftConfig
from mlops_template.training.schema import MISSING_CATEGORY, DatasetSchema

if TYPE_CHECKING:
    import pandas as pd

OTHER = "__other__"
# Floor for empty bins: PSI is undefined for a zero share.
EPSILON = 1e-4


class FeatureProfile(BaseModel):
    name: str
    kind: Literal["numeric", "categorical"]
    edges: list[float] = Field(default_factory=list, description="Inner bin edges (numeric).")
    expected: list[float] = Field(default_factory=list, description="Share of rows per bin.")
    sample: list[float] = Field(default_factory=list, description="Reference values for KS.")
    categories: list[str] = Field(default_factory=list)


class ReferenceProfile(BaseModel):
    rows: int
    features: list[FeatureProfile]
    predictions: FeatureProfile | None = Field(
        default=None,
        description="Regression: the model's predictions on its training rows, to compare "
        "the live predictions' distribution with.",
    )
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())


class FeatureDrift(BaseModel):
    name: str
    psi: float
    ks_statistic: float | None = None
    ks_pvalue: float | None = None
    drifted: bool


class DriftReport(BaseModel):
    rows: int
    reference_rows: int
    features: list[FeatureDrift]
    drifted_features: list[str]
    drifted_share: float
    drift_detected: bool
    enough_data: bool
    min_rows: int = Field(default=1, description="Live rows needed before drift is judged.")

    @property
    def max_psi(self) -> float:
        return max((f.psi for f in self.features), default=0.0)


def _numeric_bins(values: np.ndarray, bins: int) -> list[float]:
    quantiles = np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1])
    return [float(q) for q in np.unique(quantiles)]


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else np.zeros_like(counts, dtype=float)


def _histogram(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    # Bins are (-inf, e0], (e0, e1], ..., (e_last, inf): tails catch values beyond training.
    index = np.searchsorted(np.asarray(edges), values, side="left")
    return _shares(np.bincount(index, minlength=len(edges) + 1).astype(float))


def _category_shares(values: Sequence[str], categories: Sequence[str]) -> np.ndarray:
    known = {c: i for i, c in enumerate(categories)}
    counts = np.zeros(len(categories) + 1)
    for v in values:
        counts[known.get(v, len(categories))] += 1
    return _shares(counts)


def psi(expected: ArrayLike, actual: ArrayLike) -> float:
    e = np.clip(np.asarray(expected, dtype=float), EPSILON, None)
    a = np.clip(np.asarray(actual, dtype=float), EPSILON, None)
    return float(np.sum((a - e) * np.log(a / e)))


def numeric_profile(
    name: str, raw: ArrayLike, config: DriftConfig, rng: np.random.Generator
) -> FeatureProfile:
    """Quantile bins and a sample of one numeric column (NaN and infinities left out)."""
    values = np.asarray(raw, dtype=float)
    values = values[np.isfinite(values)]
    edges = _numeric_bins(values, config.bins) if len(values) else []
    sample = values
    if len(values) > config.reference_sample:
        sample = rng.choice(values, size=config.reference_sample, replace=False)
    return FeatureProfile(
        name=name,
        kind="numeric",
        edges=edges,
        expected=_histogram(values, edges).round(6).tolist(),
        sample=np.sort(sample).astype(float).round(8).tolist(),
    )


def numeric_drift(
    feature: FeatureProfile, raw: Sequence[Any], config: DriftConfig
) -> FeatureDrift | None:
    """PSI and KS of live values against a numeric profile; None without a finite value."""
    from scipy.stats import ks_2samp

    values = np.array([np.nan if v is None else v for v in raw], dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return None
    score = psi(feature.expected, _histogram(values, feature.edges))
    ks = ks_2samp(np.asarray(feature.sample), values)
    drifted = score >= config.psi_threshold and ks.pvalue < config.ks_pvalue
    return FeatureDrift(
        name=feature.name,
        psi=round(score, 6),
        ks_statistic=round(float(ks.statistic), 6),
        ks_pvalue=float(ks.pvalue),
        drifted=bool(drifted),
    )


def build_profile(
    frame: pd.DataFrame, schema: DatasetSchema, config: DriftConfig, seed: int = 0
) -> ReferenceProfile:
    rng = np.random.default_rng(seed)
    features: list[FeatureProfile] = []
    for col in schema.columns:
        series = frame[col.name]
        if col.kind == "numeric":
            features.append(numeric_profile(col.name, series.dropna(), config, rng))
        else:
            values = series.fillna(MISSING_CATEGORY).astype(str).tolist()
            categories = sorted(set(values))
            features.append(
                FeatureProfile(
                    name=col.name,
                    kind="categorical",
                    categories=categories,
                    expected=_category_shares(values, categories).round(6).tolist(),
                )
            )
    return ReferenceProfile(rows=len(frame), features=features)


def compare(
    profile: ReferenceProfile, columns: Mapping[str, Sequence[Any]], config: DriftConfig
) -> DriftReport:
    """Compare live inputs (one list of values per feature) with the reference profile."""
    rows = max((len(v) for v in columns.values()), default=0)
    results: list[FeatureDrift] = []
    for feature in profile.features:
        raw = columns.get(feature.name, [])
        if feature.kind == "numeric":
            if (found := numeric_drift(feature, raw, config)) is not None:
                results.append(found)
        else:
            labels = [MISSING_CATEGORY if v is None else str(v) for v in raw]
            if not labels:
                continue
            score = psi(feature.expected, _category_shares(labels, feature.categories))
            results.append(
                FeatureDrift(
                    name=feature.name, psi=round(score, 6), drifted=score >= config.psi_threshold
                )
            )
    drifted = [f.name for f in results if f.drifted]
    share = len(drifted) / len(results) if results else 0.0
    enough = rows >= config.min_rows
    return DriftReport(
        rows=rows,
        reference_rows=profile.rows,
        features=results,
        drifted_features=drifted,
        drifted_share=round(share, 6),
        drift_detected=enough and share >= config.drifted_share,
        enough_data=enough,
        min_rows=config.min_rows,
    )
