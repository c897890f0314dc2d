"""Side-by-side scoring ratios for CI: the serving path (ONNX Runtime over request records)
against the reference it replaced (the fitted scikit-learn pipeline over a DataFrame), timed
interleaved on the same machine in the same process. Only ratios are compared with the
recorded ones (tests/benchmarks/ratios.json): absolute timings depend on the machine."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import pandas as pd

from mlops_template.training.onnx_model import OnnxClassifier
from mlops_template.training.schema import DatasetSchema

SIZES = (1, 500)


def _median_seconds(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def scoring_ratios(
    onnx_bytes: bytes,
    schema: DatasetSchema,
    pipeline: Any,
    frame: pd.DataFrame,
    *,
    rounds: int = 5,
) -> dict[str, float]:
    """{"onnx_vs_sklearn_<n>": median ONNX time / median scikit-learn time} for each size;
    rounds alternate the two so that a busy moment slows both, not one."""
    from threadpoolctl import threadpool_limits

    from mlops_template.training.features import model_inputs

    ratios: dict[str, list[float]] = {}
    # One thread each: thread start-up and contention on a shared runner would be measured
    # instead of the scoring.
    fast = OnnxClassifier(onnx_bytes, schema, threads=1)
    with threadpool_limits(1):
        for n in SIZES:
            rows = frame.head(n)
            records = rows.to_dict(orient="records")
            inputs = model_inputs(rows, schema)
            fast.predict_records(records)  # warm both
            pipeline.predict_proba(inputs)
            for _ in range(rounds):
                ours = _median_seconds(partial(fast.predict_records, records), 20)
                reference = _median_seconds(partial(pipeline.predict_proba, inputs), 20)
                ratios.setdefault(f"onnx_vs_sklearn_{n}", []).append(ours / reference)
    return {name: round(statistics.median(values), 4) for name, values in ratios.items()}


MAX_FACTOR = 3.0
"""A ratio more than this many times its recorded value is a regression (noise on a shared
runner moves these ratios by about a third, measured over repeated runs)."""


def regressions(
    current: dict[str, float], recorded: dict[str, float], factor: float = MAX_FACTOR
) -> list[str]:
    """One line per ratio that grew beyond `factor` times its record (or has no record)."""
    found = []
    for name, value in sorted(current.items()):
        if name not in recorded:
            found.append(f"{name}: {value} has no recorded ratio")
        elif value > recorded[name] * factor:
            found.append(
                f"{name}: {value} is {value / recorded[name]:.1f}x its recorded {recorded[name]}"
            )
    return found


def ratio_table(current: dict[str, float], recorded: dict[str, float]) -> str:
    lines = [f"{'ratio':<24} {'recorded':>10} {'now':>10} {'now/recorded':>13}"]
    for name, value in sorted(current.items()):
        before = recorded.get(name)
        change = f"{value / before:.2f}" if before else "n/a"
        lines.append(f"{name:<24} {before!s:>10} {value:>10} {change:>13}")
    return "\n".join(lines)
