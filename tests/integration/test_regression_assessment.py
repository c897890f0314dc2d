"""A regression's assessment through the pipeline on the local backend: production's lead on the
rows neither model trained on (a paired bootstrap of RMSE), slices against production, and the
gate refusing a candidate worse than production while the registry stays as it was."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlops_template.core.pipeline import LocalPipeline, PipelineSteps
from mlops_template.training.config import TrainingConfig
from mlops_template.training.datasets import to_csv_bytes

MODEL = "demand"


def _linear(seed: int, rows: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, 3)), columns=["x0", "x1", "x2"])
    frame["store"] = rng.choice(["north", "south"], size=rows)
    noise = rng.normal(scale=0.5, size=rows)
    frame["y"] = 50 + 3 * frame.x0 - 2 * frame.x1 + frame.x2 + noise
    return frame


def _run(backend, key: str, frame: pd.DataFrame, model: dict) -> object:
    PipelineSteps(backend).save_config(
        TrainingConfig.model_validate(
            {
                "model_name": MODEL,
                "target": "y",
                "model": model,
                "features": {"slices": ["store"], "sensitive": ["store"]},
            }
        )
    )
    backend.data.put(key, to_csv_bytes(frame))
    return LocalPipeline(backend).run(MODEL, key)


def test_a_regressor_worse_than_production_is_refused_with_its_lead_and_slices(backend):
    first = _run(backend, "incoming/a.csv", _linear(0), {"algorithm": "linear_regression"})
    assert first.status == "registered", first
    backend.registry.promote(MODEL, first.version, "production", actor="test")
    # A depth-1 forest on new rows: it beats the mean, but far from the line production knows.
    weak = {"algorithm": "random_forest", "params": {"max_depth": 1, "n_estimators": 5}}
    second = _run(backend, "incoming/b.csv", _linear(1), weak)

    assert second.status == "rejected" and second.gate is not None
    gate = second.gate
    assert gate.metric == "rmse" and gate.production_version == first.version
    assert gate.candidate < gate.baseline  # the mean predictor is beaten...
    assert not any("baseline" in r for r in gate.reasons)
    assert any(f"worse than production v{first.version}" in r for r in gate.reasons)
    # ...but production leads by more than the noise of the compared rows.
    lead = gate.checks["production"]
    assert lead["metric"] == "rmse" and lead["point"] > 0.5 and lead["lower"] > 0
    assert [v.version for v in backend.registry.versions(MODEL)] == [first.version]

    record = backend.registry.get_run(MODEL, second.run_id)
    assert record.status == "gate_failed"
    stores = {s["value"]: s for s in record.assessment["slices"] if s["column"] == "store"}
    assert set(stores) == {"north", "south"}
    for entry in stores.values():
        assert entry["production"] < entry["candidate_on_compared"]  # RMSE: lower is better
    assert any("store=" in r and "trails production" in r for r in gate.reasons)
    groups = record.assessment["fairness"]["store"]
    assert set(groups["by_group"]) == {"north", "south"} and groups["rmse_difference"] >= 0
    assert record.assessment["simple_model"]["algorithm"] == "linear_regression"
