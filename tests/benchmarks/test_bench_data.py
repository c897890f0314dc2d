"""The data benchmark runs end to end on tiny files (its figures are not asserted here)."""

import pytest

from mlops_template.tooling.bench_data import make
from tests.benchmarks.bench_data import run, table


def test_the_synthetic_table_has_the_benchmark_s_thirty_columns():
    frame = make(1_000, seed=1)
    assert frame.shape == (1_000, 30)
    assert set(frame["label"]) == {"yes", "no"}
    assert 0 < frame["f2"].isna().sum() < 50 and 0 < frame["c1"].isna().sum() < 50


@pytest.mark.slow
def test_the_data_benchmark_measures_every_case_at_every_size():
    figures = run((300, 2_000))
    assert [(f.case, f.rows) for f in figures] == [
        ("validate", 300),
        ("train-prepare", 300),
        ("monitor", 300),
        ("validate", 2_000),
        ("train-prepare", 2_000),
        ("monitor", 2_000),
    ]
    assert all(f.peak_rss_mb > 0 and f.seconds > 0 and f.megabytes > 0 for f in figures)
    assert table(figures).count("\n") == 7


@pytest.mark.slow
def test_the_monitor_case_fails_unless_it_reads_every_capture(tmp_path):
    import json

    from mlops_template.tooling.bench_data import measure, window_of
    from mlops_template.tooling.bench_monitor import EXPECTED, write_window

    data = tmp_path / "rows-500.csv"
    write_window(window_of(data), 500)
    seconds, peak = measure("monitor", data, tmp_path / "schema.json")
    assert seconds > 0 and peak > 0
    (window_of(data) / EXPECTED).write_text(json.dumps({"rows": 501}))
    with pytest.raises(RuntimeError, match="read 500 of 501 captures"):
        measure("monitor", data, tmp_path / "schema.json")
