"""The monitor benchmark runs end to end on a tiny window (its figures are not asserted here)."""

import pytest

from tests.benchmarks.bench_monitor import measure, table


@pytest.mark.slow
def test_the_monitor_benchmark_reads_every_capture_and_reports_memory():
    seconds, peak_mb = measure(2_000)  # raises unless all 2,000 were read
    assert seconds > 0 and peak_mb > 0
    assert table({2_000: (seconds, seconds, peak_mb)}).count("\n") == 2
