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
        if col.kind == "datetime":
            continue  # new data is later by nature: a date's "drift" is time passing
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


class DriftCounts:
    """Live inputs binned against a reference profile: everything PSI and KS need, in memory
    that does not grow with the number of rows.

    Per numeric feature: counts in the profile's PSI bins, and counts below and at-or-below
    each distinct value of the profile's reference sample. The two-sample KS statistic is the
    largest gap between the two empirical CDFs; between two reference points the reference CDF
    is flat and the live one only rises, so the gap is largest at one of the two ends, and
    those are exactly the counts kept: the statistic is the one `ks_2samp` computes on the raw
    values. Per categorical feature: counts per known category and one for the rest. Partial
    counts (one per object read in parallel) `merge` into one."""

    def __init__(self, profile: ReferenceProfile) -> None:
        self.profile = profile
        self.rows = 0
        self._points: dict[str, np.ndarray] = {}
        self._bins: dict[str, np.ndarray] = {}
        self._below: dict[str, np.ndarray] = {}
        self._upto: dict[str, np.ndarray] = {}
        self._index: dict[str, dict[str, int]] = {}
        for f in profile.features:
            if f.kind == "numeric":
                points = np.unique(np.asarray(f.sample, dtype=float))
                self._points[f.name] = points
                self._bins[f.name] = np.zeros(len(f.edges) + 1, dtype=np.int64)
                self._below[f.name] = np.zeros(len(points) + 1, dtype=np.int64)
                self._upto[f.name] = np.zeros(len(points) + 1, dtype=np.int64)
            else:
                self._index[f.name] = {c: i for i, c in enumerate(f.categories)}
                self._bins[f.name] = np.zeros(len(f.categories) + 1, dtype=np.int64)

    def add(self, columns: Mapping[str, Sequence[Any] | np.ndarray]) -> None:
        """Count a chunk of live rows (one sequence of values per feature, None for missing)."""
        self.rows += max((len(v) for v in columns.values()), default=0)
        for f in self.profile.features:
            raw = columns.get(f.name)
            if raw is None or len(raw) == 0:
                continue
            if f.kind == "numeric":
                values = np.asarray(raw, dtype=float)  # None -> nan
                values = values[np.isfinite(values)]
                if not len(values):
                    continue
                edges, points = np.asarray(f.edges, dtype=float), self._points[f.name]
                size = len(edges) + 1
                self._bins[f.name] += np.bincount(
                    np.searchsorted(edges, values, side="left"), minlength=size
                )
                # Bin j+1 of `below` counts values in (p_j, p_j+1]: its prefix sums give the
                # rows < each point; `upto`, [p_j, p_j+1), the rows <= each point.
                self._upto[f.name] += np.bincount(
                    np.searchsorted(points, values, side="left"), minlength=len(points) + 1
                )
                self._below[f.name] += np.bincount(
                    np.searchsorted(points, values, side="right"), minlength=len(points) + 1
                )
            else:
                labels = np.asarray(raw, dtype=object)
                labels[labels == None] = MISSING_CATEGORY  # noqa: E711 (elementwise, not identity)
                seen, counts = np.unique(labels.astype(str), return_counts=True)
                index, other = self._index[f.name], len(f.categories)
                where = np.fromiter((index.get(c, other) for c in seen), int, len(seen))
                self._bins[f.name] += np.bincount(
                    where, weights=counts, minlength=other + 1
                ).astype(np.int64)

    def merge(self, other: DriftCounts) -> DriftCounts:
        self.rows += other.rows
        for table, theirs in (
            (self._bins, other._bins),
            (self._below, other._below),
            (self._upto, other._upto),
        ):
            for name, counts in theirs.items():
                table[name] += counts
        return self

    def counts(self, name: str) -> list[int]:
        """A feature's live counts in its profile's bins (numeric: one more than the inner
        edges; categorical: one per known category, then the rest), for plotting them."""
        return [int(c) for c in self._bins[name]]

    def _ks(self, feature: FeatureProfile) -> tuple[float, float]:
        from scipy.stats import kstwo

        sample = np.sort(np.asarray(feature.sample, dtype=float))
        points = self._points[feature.name]
        n, m = len(sample), int(self._bins[feature.name].sum())
        ref_upto = np.searchsorted(sample, points, side="right") / n  # F_ref(p_j)
        # Live rows <= p_j and < p_j (the first bin of each is below the first point).
        live_upto = np.cumsum(self._upto[feature.name])[:-1] / m
        live_below = np.cumsum(self._below[feature.name])[:-1] / m
        gaps = [
            np.abs(ref_upto - live_upto),  # at each point
            np.abs(ref_upto[:-1] - live_below[1:]),  # just before the next point
            live_below[:1],  # before the first point (reference CDF 0)
        ]
        statistic = float(max(g.max() for g in gaps if len(g)))
        # The asymptotic distribution ks_2samp uses for large samples, with its effective size.
        pvalue = float(kstwo.sf(statistic, round(n * m / (n + m))))
        return statistic, min(max(pvalue, 0.0), 1.0)

    def report(self, config: DriftConfig) -> DriftReport:
        results: list[FeatureDrift] = []
        for feature in self.profile.features:
            counts = self._bins[feature.name]
            if not counts.sum():
                continue
            score = psi(feature.expected, _shares(counts.astype(float)))
            if feature.kind == "numeric" and len(feature.sample):
                statistic, pvalue = self._ks(feature)
                moved = score >= config.psi_threshold and pvalue < config.ks_pvalue
                results.append(
                    FeatureDrift(
                        name=feature.name,
                        psi=round(score, 6),
                        ks_statistic=round(statistic, 6),
                        ks_pvalue=pvalue,
                        drifted=bool(moved),
                    )
                )
            else:
                results.append(
                    FeatureDrift(
                        name=feature.name,
                        psi=round(score, 6),
                        drifted=score >= config.psi_threshold,
                    )
                )
        drifted = [f.name for f in results if f.drifted]
        share = len(drifted) / len(results) if results else 0.0
        enough = self.rows >= config.min_rows
        return DriftReport(
            rows=self.rows,
            reference_rows=self.profile.rows,
            features=results,
            drifted_features=drifted,
            drifted_share=round(share, 6),
            drift_detected=enough and share >= config.drifted_share,
            enough_data=enough,
            min_rows=config.min_rows,
        )


def compare(
    profile: ReferenceProfile, columns: Mapping[str, Sequence[Any]], config: DriftConfig
) -> DriftReport:
    """Compare live inputs (one list of values per feature) with the reference profile."""
    counts = DriftCounts(profile)
    counts.add(columns)
    return counts.report(config)


class WindowDrift(BaseModel):
    """Drift of one time window's live inputs against the reference."""

    start: str
    end: str
    rows: int
    drifted_share: float
    drifted_features: list[str]
    max_psi: float
    drift_detected: bool
    enough_data: bool


class WindowedDriftCounts:
    """`DriftCounts` per time window (e.g. week by week): each row is counted in the window its
    timestamp falls in, [origin + k * width, origin + (k + 1) * width). Memory holds one set of
    counts per window seen, never the rows; partial counts `merge` like DriftCounts."""

    def __init__(self, profile: ReferenceProfile, origin: datetime, width_seconds: float) -> None:
        if width_seconds <= 0:
            raise ValueError(f"a drift window must be longer than 0 s, not {width_seconds}")
        self.profile = profile
        self.origin = origin if origin.tzinfo else origin.replace(tzinfo=UTC)
        self.width_seconds = float(width_seconds)
        self.windows: dict[int, DriftCounts] = {}

    def index(self, timestamps: ArrayLike) -> np.ndarray:
        """The window of each timestamp (numpy datetime64 or anything it converts, UTC)."""
        at = np.asarray(timestamps, dtype="datetime64[us]").astype(np.int64)
        origin = np.datetime64(self.origin.replace(tzinfo=None), "us").astype(np.int64)
        return np.floor_divide(at - origin, int(self.width_seconds * 1_000_000))

    def add(self, columns: Mapping[str, Sequence[Any] | np.ndarray], timestamps: ArrayLike) -> None:
        which = self.index(timestamps)
        for k in np.unique(which).tolist():
            rows = which == k
            chunk = {name: _array(values)[rows] for name, values in columns.items()}
            self.windows.setdefault(k, DriftCounts(self.profile)).add(chunk)

    def merge(self, other: WindowedDriftCounts) -> WindowedDriftCounts:
        for k, counts in other.windows.items():
            if k in self.windows:
                self.windows[k].merge(counts)
            else:
                self.windows[k] = counts
        return self

    def reports(self, config: DriftConfig) -> list[WindowDrift]:
        """One report per window that held rows, oldest first."""
        from datetime import timedelta

        width = timedelta(seconds=self.width_seconds)
        out = []
        for k in sorted(self.windows):
            report = self.windows[k].report(config)
            start = self.origin + k * width
            out.append(
                WindowDrift(
                    start=start.isoformat(),
                    end=(start + width).isoformat(),
                    rows=report.rows,
                    drifted_share=report.drifted_share,
                    drifted_features=report.drifted_features,
                    max_psi=report.max_psi,
                    drift_detected=report.drift_detected,
                    enough_data=report.enough_data,
                )
            )
        return out


def _array(values: Sequence[Any] | np.ndarray) -> np.ndarray:
    # A list keeps its None values as None (DriftCounts reads them as missing).
    return values if isinstance(values, np.ndarray) else np.asarray(values, dtype=object)
