"""A team's own model through `model.factory`: the examples/ factory (a custom transformer with
its ONNX converter) trains, passes parity, registers and serves; a step with no converter fails
at training, naming the step and how to register one."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline

from mlops_template.core.pipeline import LocalPipeline, PipelineSteps
from mlops_template.core.serving.app import create_app
from mlops_template.core.serving.router import ModelRouter
from mlops_template.training.config import TrainingConfig
from mlops_template.training.datasets import REGRESSION_TARGET, diabetes_frame, to_csv_bytes

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "custom_features"
MODEL = "team-model"


class Unconvertible(BaseEstimator, TransformerMixin):
    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X


def build_unconvertible(schema, seed, **params):
    return Pipeline([("clip_outliers", Unconvertible()), ("model", Ridge())])


@pytest.fixture
def examples_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    yield
    sys.modules.pop("interactions", None)


def test_the_example_factory_trains_registers_and_serves(backend, examples_on_path):
    frame = diabetes_frame()
    config = TrainingConfig.model_validate(
        {
            "model_name": MODEL,
            "target": REGRESSION_TARGET,
            "model": {
                "factory": "interactions:build",
                "params": {"pairs": [["bmi", "bp"], ["bmi", "s5"]], "max_iter": 50},
            },
        }
    )
    PipelineSteps(backend).save_config(config)
    backend.data.put("incoming/d.csv", to_csv_bytes(frame))
    result = LocalPipeline(backend).run(MODEL, "incoming/d.csv", auto_promote="production")
    assert result.status == "registered", result
    version = backend.registry.get(MODEL, result.version)
    assert version.config["model"]["factory"] == "interactions:build"
    manifest_key = next(k for k in backend.artifacts.keys(f"runs/{MODEL}/") if "manifest" in k)
    recorded = json.loads(backend.artifacts.get(manifest_key))["factory"]
    assert recorded == {"path": "interactions:build", "version": "not installed"}
    assert version.gate["parity_error"] < 1e-4  # the custom converter computes what sklearn does

    router = ModelRouter(
        backend.registry, backend.artifacts, MODEL, "production", refresh_seconds=0
    )
    client = TestClient(create_app(router, predictions=backend.predictions))
    features = [c for c in frame.columns if c != REGRESSION_TARGET]
    answer = client.post("/predict", json={"records": frame[features].head(20).to_dict("records")})
    assert answer.status_code == 200, answer.text
    values = [p["value"] for p in answer.json()["predictions"]]
    assert len(set(values)) > 1


def test_a_step_with_no_onnx_converter_fails_at_training_naming_it(backend):
    config = TrainingConfig.model_validate(
        {
            "model_name": MODEL,
            "target": REGRESSION_TARGET,
            "model": {"factory": f"{__name__}:build_unconvertible"},
        }
    )
    PipelineSteps(backend).save_config(config)
    backend.data.put("incoming/d.csv", to_csv_bytes(diabetes_frame()))
    result = LocalPipeline(backend).run(MODEL, "incoming/d.csv")
    assert result.status == "failed"
    assert "'clip_outliers'" in (result.error or "")
    assert "Unconvertible" in (result.error or "")
    assert "update_registered_converter" in (result.error or "")
    assert backend.registry.versions(MODEL) == []


def test_a_factory_that_cannot_be_imported_is_a_clear_config_error(backend):
    config = TrainingConfig.model_validate(
        {"model_name": MODEL, "target": REGRESSION_TARGET, "model": {"factory": "nowhere:build"}}
    )
    PipelineSteps(backend).save_config(config)
    backend.data.put("incoming/d.csv", to_csv_bytes(diabetes_frame()))
    result = LocalPipeline(backend).run(MODEL, "incoming/d.csv")
    assert result.status == "failed" and "cannot import 'nowhere'" in (result.error or "")
