"""Drift: quiet on a held-out split of the same data, loud on shifted data."""

import numpy as np
import pytest

from mlops_template.training.config import DriftConfig
from mlops_template.training.drift import build_profile, compare, psi
from mlops_template.training.train import split_by_hash


@pytest.fixture(scope="module")
def halves(typed_frame):
    return split_by_hash(typed_frame, 0.3)


@pytest.fixture(scope="module")
def profile(halves, schema):
    return build_profile(halves[0], schema, DriftConfig())


def columns(frame, schema):
    return {c: frame[c].tolist() for c in schema.feature_names}


def test_no_drift_on_a_held_out_split_of_the_same_data(profile, halves, schema):
    report = compare(profile, columns(halves[1], schema), DriftConfig())
    assert report.enough_data
    assert not report.drift_detected
    assert report.drifted_features == []


def test_drift_on_shifted_features(profile, halves, schema):
    shifted = halves[1].copy()
    for name in ("mean_radius", "mean_perimeter", "worst_area", "mean_texture"):
        shifted[name] = shifted[name] * 1.4
    report = compare(profile, columns(shifted, schema), DriftConfig())
    assert report.drift_detected
    assert {"mean_radius", "mean_perimeter", "worst_area", "mean_texture"} <= set(
        report.drifted_features
    )


def test_too_few_rows_never_raise_the_alarm(profile, halves, schema):
    shifted = halves[1].head(10).copy()
    shifted["mean_radius"] *= 3
    report = compare(profile, columns(shifted, schema), DriftConfig(min_rows=30))
    assert not report.enough_data and not report.drift_detected


def test_psi_is_zero_for_identical_distributions_and_grows_with_the_difference():
    assert psi([0.5, 0.5], [0.5, 0.5]) == pytest.approx(0)
    assert psi([0.5, 0.5], [0.6, 0.4]) < psi([0.5, 0.5], [0.9, 0.1])


def test_categorical_drift_uses_category_shares():
    import pandas as pd

    from mlops_template.training.schema import infer_schema

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"city": rng.choice(["a", "b"], 500), "y": rng.choice(["0", "1"], 500)})
    schema = infer_schema(df, "y")
    profile = build_profile(df, schema, DriftConfig())
    same = compare(profile, {"city": rng.choice(["a", "b"], 300).tolist()}, DriftConfig())
    moved = compare(profile, {"city": ["c"] * 200 + ["a"] * 100}, DriftConfig())
    assert not same.drift_detected and moved.drift_detected


def test_binned_ks_equals_ks_on_the_raw_values_and_partial_counts_merge():
    """The monitor never holds the live values: the statistic from its counts is the one
    ks_2samp computes on them (ties included), and counts kept per object add up."""
    from scipy.stats import ks_2samp

    from mlops_template.training.drift import DriftCounts, FeatureProfile, ReferenceProfile

    rng = np.random.default_rng(3)
    reference = np.round(rng.normal(size=500), 1)  # rounded: many ties
    live = np.round(rng.normal(0.3, 1.2, size=3000), 1)
    profile = ReferenceProfile(
        rows=500,
        features=[
            FeatureProfile(
                name="x",
                kind="numeric",
                edges=np.quantile(reference, [0.25, 0.5, 0.75]).tolist(),
                expected=[0.25] * 4,
                sample=np.sort(reference).tolist(),
            )
        ],
    )
    whole = DriftCounts(profile)
    whole.add({"x": live})
    parts = [DriftCounts(profile) for _ in range(3)]
    for part, chunk in zip(parts, np.array_split(live, 3), strict=True):
        part.add({"x": [*chunk.tolist(), None]})
    merged = parts[0].merge(parts[1]).merge(parts[2])
    expected = ks_2samp(reference, live).statistic
    for counts in (whole, merged):
        (feature,) = counts.report(DriftConfig()).features
        assert feature.ks_statistic == pytest.approx(expected, abs=1e-6)
    assert merged.report(DriftConfig()).features == whole.report(DriftConfig()).features
    assert merged.rows == 3003
