"""The batch benchmark runs end to end on tiny files (its figures are not asserted here)."""

import pytest

from tests.benchmarks.bench_batch import run, table


@pytest.mark.slow
def test_the_batch_benchmark_scores_every_row_and_reports_memory():
    figures = run((300, 2_000), chunk_rows=500)
    assert [f.rows for f in figures] == [f.scored for f in figures] == [300, 2_000]
    assert all(f.peak_rss_mb > 0 and f.rows_per_second > 0 for f in figures)
    assert table(figures).count("\n") == 3
