"""CI's benchmark comparison: the serving path's scoring time as a ratio of the reference
(scikit-learn over a DataFrame), measured side by side, against the ratios recorded in
ratios.json. A large ratio regression fails; absolute timings are never asserted.

Re-record after an intended change: `python -m tests.benchmarks.test_scoring_ratio`."""

from __future__ import annotations

import json
from pathlib import Path

from mlops_template.tooling.bench_ratio import (
    MAX_FACTOR,
    ratio_table,
    regressions,
    scoring_ratios,
)

RECORDED = Path(__file__).with_name("ratios.json")


def test_scoring_has_not_regressed_against_the_reference(trained, schema, typed_frame, figure):
    recorded = json.loads(RECORDED.read_text())
    current = scoring_ratios(
        trained.onnx_bytes, schema, trained.pipeline, typed_frame[schema.feature_names]
    )
    table = ratio_table(current, recorded)
    figure("scoring ratios (ONNX / scikit-learn)", "\n" + table)
    assert regressions(current, recorded) == [], table


def test_the_comparison_fails_on_a_large_ratio_regression_only():
    recorded = {"onnx_vs_sklearn_1": 0.01, "onnx_vs_sklearn_500": 0.02}
    assert regressions({"onnx_vs_sklearn_1": 0.02, "onnx_vs_sklearn_500": 0.05}, recorded) == []
    slower = {"onnx_vs_sklearn_1": 0.01 * MAX_FACTOR * 1.5, "onnx_vs_sklearn_500": 0.02}
    (problem,) = regressions(slower, recorded)
    assert problem.startswith("onnx_vs_sklearn_1: ") and "4.5x its recorded 0.01" in problem
    assert regressions({"new_ratio": 1.0}, recorded) == ["new_ratio: 1.0 has no recorded ratio"]


if __name__ == "__main__":  # re-record the ratios on this machine
    import io

    import pandas as pd

    from mlops_template.training.config import TrainingConfig
    from mlops_template.training.datasets import TARGET, breast_cancer_frame, to_csv_bytes
    from mlops_template.training.schema import infer_schema
    from mlops_template.training.train import train
    from mlops_template.training.validation import validate_csv

    data = to_csv_bytes(breast_cancer_frame())
    inferred = infer_schema(pd.read_csv(io.BytesIO(data)), TARGET)
    _, typed = validate_csv(data, inferred)
    run = train(typed, inferred, TrainingConfig(target=TARGET), data_sha256="bench")
    ratios = scoring_ratios(run.onnx_bytes, inferred, run.pipeline, typed[inferred.feature_names])
    RECORDED.write_text(json.dumps(ratios, indent=2) + "\n")
    print(ratio_table(ratios, ratios))
