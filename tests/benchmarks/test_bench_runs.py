"""The benchmark code runs end to end on a tiny setting (its timings are not asserted here)."""

from mlops_template.tooling.bench import BenchConfig, as_dict, run


def test_the_benchmark_runs_and_reports_every_figure():
    result = run(
        BenchConfig(cold_runs=1, warm_requests=5, batch_rows=50, batch_repeats=1, package=False)
    )
    metrics = [row[0] for row in result.rows()]
    assert any(m.startswith("cold init") for m in metrics)
    assert any(m.startswith("batch of 50 records") for m in metrics)
    assert {"p50_ms_1", "p99_ms_1", "p50_ms_100", "p99_ms_100", "rows_per_second"} <= set(
        result.ours.warm
    )
    assert result.ours.warm["rows_per_second"] > 0 and result.baseline.warm["rows_per_second"] > 0
    assert result.parity_error < 1e-5
    # The entity record was served (the probe asserts 200s), its lookup timed beside the plain one.
    assert {"p50_ms_entity", "p99_ms_entity"} <= set(result.ours.warm)
    assert "p50_ms_entity" not in result.baseline.warm
    assert [row[0] for row in result.feature_rows()] == [
        "warm p50, 1 record (ms)",
        "warm p99, 1 record (ms)",
    ]
    report = as_dict(result)
    assert len(report["table"]) == len(result.rows())
    assert len(report["online_lookup"]) == 2
