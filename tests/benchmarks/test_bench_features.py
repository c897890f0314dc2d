"""The feature-store benchmark runs end to end on tiny data (its figures are not asserted)."""

import pytest

from tests.benchmarks.bench_features import lookup_latency, run, table


@pytest.mark.slow
def test_the_pit_benchmark_keeps_every_entity_row_and_reports_memory():
    figures = run(500, 5_000)
    assert [f.method for f in figures] == ["duckdb", "pandas"]
    assert all(f.peak_rss_mb > 0 and f.seconds > 0 for f in figures)
    # Both keep every row; the same rows have no match (no TTL in the data's 90 days).
    assert figures[0].unmatched == figures[1].unmatched
    assert table(figures).count("\n") == 3


@pytest.mark.slow
def test_the_lookup_benchmark_reports_both_request_kinds():
    out = lookup_latency(entities=200, requests=50)
    assert out.count("\n") == 3 and "entity lookup" in out
