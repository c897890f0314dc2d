"""The ML Test Score's data and model tests through the pipeline on the local backend: what the
evaluate step records in the run record and the gate, the feature policy at validation, and the
categorical-feature path from training to serving."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from mlops_template.core.pipeline import LocalPipeline, PipelineSteps
from mlops_template.core.serving.app import create_app
from mlops_template.core.serving.router import ModelRouter
from mlops_template.training.config import TrainingConfig
from mlops_template.training.datasets import TARGET

MODEL = "bc"


def _shops(rows: int = 600, seed: int = 0) -> pd.DataFrame:
    """A table with categorical features: region and plan decide most of the label."""
    rng = np.random.default_rng(seed)
    region = rng.choice(["north", "south", "east", "west"], size=rows)
    plan = rng.choice(["free", "pro", "team"], size=rows)
    spend = rng.gamma(2.0, 50.0, size=rows).round(2)
    score = (
        (region == "north") * 1.5
        - (region == "west") * 1.0
        + (plan == "pro") * 1.2
        + spend / 100
        + rng.normal(scale=0.6, size=rows)
    )
    return pd.DataFrame(
        {
            "region": region,
            "plan": plan,
            "spend": spend,
            "churned": np.where(score > 1.6, "yes", "no"),
        }
    )


def test_the_evaluate_step_records_slices_staleness_and_the_config_hash(backend, csv_bytes):
    steps = PipelineSteps(backend)
    config = TrainingConfig(model_name=MODEL, target=TARGET)
    steps.save_config(config)
    backend.data.put("incoming/a.csv", csv_bytes)
    first = LocalPipeline(backend).run(MODEL, "incoming/a.csv")
    backend.registry.promote(MODEL, first.version, "production", actor="t")
    backend.data.put("incoming/b.csv", csv_bytes)
    second = LocalPipeline(backend).run(MODEL, "incoming/b.csv")
    assert second.status == "registered", second.error
    record = backend.registry.get_run(MODEL, second.run_id)
    from mlops_template.training.train import config_sha256

    assert record.config_sha256 == config_sha256(config)
    assessment = record.assessment
    # Staleness: production v1 re-scored on the new held-out rows, beside its age.
    (stale,) = assessment["staleness"]
    assert stale["version"] == first.version and stale["age_days"] >= 0
    assert stale["value"] == pytest.approx(second.gate.production)
    # Slices: numeric quantile bins of every feature, each with production beside it.
    columns = {s["column"] for s in assessment["slices"]}
    assert columns == set(
        json.loads(backend.artifacts.get(f"models/{MODEL}/v1/schema.json"))["columns"][i]["name"]
        for i in range(30)
    )
    assert all("production" in s for s in assessment["slices"] if s["compared_rows"])
    assert {"lift", "simple_model", "importance", "ablation"} <= set(assessment)
    version = backend.registry.get(MODEL, second.version)
    assert version.gate["checks"]["lift"]["lower"] > 0.4
    assert version.gate["checks"]["useless_features"] == assessment["importance"]["useless"]


def test_a_forbidden_feature_is_quarantined_at_validation(backend, csv_bytes):
    steps = PipelineSteps(backend)
    steps.save_config(
        TrainingConfig.model_validate(
            {"model_name": MODEL, "target": TARGET, "features": {"forbidden": ["mean_radius"]}}
        )
    )
    backend.data.put("incoming/x.csv", csv_bytes)
    result = LocalPipeline(backend).run(MODEL, "incoming/x.csv")
    assert (result.status, result.error_type) == ("failed", "DataValidationError")
    assert "forbidden column(s) used as features: mean_radius" in result.error
    quarantined = backend.data.keys(f"quarantine/{MODEL}/")
    assert any(k.endswith("x.csv") for k in quarantined)
    assert backend.registry.versions(MODEL) == []


def test_categorical_features_train_export_gate_and_serve(backend):
    """The categorical path of training/features.py end to end: one-hot encoding through ONNX
    (parity checked by the gate), slices and fairness by category, and the served API."""
    frame = _shops()
    steps = PipelineSteps(backend)
    steps.save_config(
        TrainingConfig.model_validate(
            {
                "model_name": "shops",
                "target": "churned",
                "features": {"slices": ["plan"], "sensitive": ["region"]},
                "gate": {"max_demographic_parity_difference": 0.99},
            }
        )
    )
    backend.data.put("incoming/shops.csv", frame.to_csv(index=False).encode())
    result = LocalPipeline(backend).run("shops", "incoming/shops.csv")
    assert result.status == "registered", result.error or result.gate
    version = backend.registry.get("shops", result.version)
    schema = json.loads(backend.artifacts.get(version.artifacts["schema.json"].key))
    kinds = {c["name"]: c["kind"] for c in schema["columns"]}
    assert kinds == {"region": "categorical", "plan": "categorical", "spend": "numeric"}
    assert version.gate["parity_error"] < 1e-4 and version.metrics["roc_auc"] > 0.8
    record = backend.registry.get_run("shops", result.run_id)
    slices = {(s["column"], s["value"]) for s in record.assessment["slices"]}
    assert {("plan", "free"), ("plan", "pro"), ("region", "north")} <= slices
    assert set(record.assessment["fairness"]["region"]["by_group"]) <= {
        "north",
        "south",
        "east",
        "west",
    }
    assert "demographic_parity_difference" in version.gate["checks"]["fairness"]["region"]

    backend.registry.promote("shops", version.version, "production", actor="t")
    router = ModelRouter(
        backend.registry, backend.artifacts, "shops", "production", refresh_seconds=0
    )
    client = TestClient(create_app(router, predictions=backend.predictions))
    records = [
        {"region": "north", "plan": "pro", "spend": 250.0},
        {"region": "west", "plan": "free", "spend": 5.0},
        {"region": "mars", "plan": "free", "spend": 5.0},  # unseen category: ignored, not an error
    ]
    response = client.post("/predict", json={"records": records})
    assert response.status_code == 200, response.text
    labels = [p["label"] for p in response.json()["predictions"]]
    assert labels[:2] == ["yes", "no"]
    assert labels[2] in {"yes", "no"}
