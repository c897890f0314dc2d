"""LightGBM and XGBoost (the [lightgbm] and [xgboost] extras), classifier and regressor: each
trains inside our pipeline, passes the ONNX parity check and the gate, registers, and is served
by the same API (ONNX Runtime only: the serving path never imports either library)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from mlops_template.core.pipeline import LocalPipeline, PipelineSteps
from mlops_template.core.serving.app import create_app
from mlops_template.core.serving.router import ModelRouter
from mlops_template.training.config import TrainingConfig
from mlops_template.training.datasets import (
    REGRESSION_TARGET,
    TARGET,
    breast_cancer_frame,
    diabetes_frame,
    to_csv_bytes,
)

pytest.importorskip("onnxmltools", reason="the [lightgbm]/[xgboost] extras are not installed")

TABLES = {
    "classification": (breast_cancer_frame, TARGET),
    "regression": (diabetes_frame, REGRESSION_TARGET),
}


@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize("algorithm", ["lightgbm", "xgboost"])
def test_each_library_trains_passes_parity_and_is_served(backend, algorithm, task):
    pytest.importorskip(algorithm)
    load, target = TABLES[task]
    frame = load()
    model = f"{algorithm}-{task[:5]}"
    # The diabetes table leaves ~90 held-out rows: XGBoost's 200 default trees beat the mean
    # there, but the 99% bound of that lift falls under the default 5% (the gate refuses it, as
    # designed: tests/unit/test_regression_assessment.py). The library's path is under test
    # here, so the bound need only be above zero.
    gate = {"min_lift_over_baseline": 0.0} if task == "regression" else {}
    PipelineSteps(backend).save_config(
        TrainingConfig(model_name=model, target=target, model={"algorithm": algorithm}, gate=gate)
    )
    backend.data.put("incoming/d.csv", to_csv_bytes(frame))
    result = LocalPipeline(backend).run(model, "incoming/d.csv", auto_promote="production")
    assert result.status == "registered", result
    version = backend.registry.get(model, result.version)
    assert version.gate["parity_error"] < 1e-4
    assert version.config["model"]["algorithm"] == algorithm

    router = ModelRouter(
        backend.registry, backend.artifacts, model, "production", refresh_seconds=0
    )
    client = TestClient(create_app(router))
    features = [c for c in frame.columns if c != target]
    sample = frame.head(30)
    answer = client.post("/predict", json={"records": sample[features].to_dict("records")})
    assert answer.status_code == 200, answer.text
    predictions = answer.json()["predictions"]
    if task == "classification":
        # Class names (XGBoost trains on 0/1 indices: the API still answers the names).
        assert {p["label"] for p in predictions} <= {"benign", "malignant"}
        hits = sum(p["label"] == t for p, t in zip(predictions, sample[target], strict=True))
        assert hits >= 27
    else:
        values = [p["value"] for p in predictions]
        errors = [abs(v - t) for v, t in zip(values, sample[target], strict=True)]
        assert sum(errors) / len(errors) < 60  # the mean predictor is ~65 off on this table


def test_a_missing_extra_names_the_extra(monkeypatch):
    import sys

    from mlops_template.training.config import ConfigError, ModelConfig
    from mlops_template.training.features import make_estimator

    monkeypatch.setitem(sys.modules, "lightgbm", None)  # `import lightgbm` now fails
    with pytest.raises(ConfigError, match=r"\[lightgbm\]"):
        make_estimator(ModelConfig(algorithm="lightgbm"), 0)
