"""Training: metrics against the baseline, reproducibility, ONNX parity, provenance."""

import io

import numpy as np
import onnx
import pandas as pd
import pytest

from mlops_template.training.config import ConfigError, TrainingConfig, load_config
from mlops_template.training.datasets import TARGET
from mlops_template.training.export import parity_error
from mlops_template.training.files import ARTIFACT_FILES, MANIFEST_FILE
from mlops_template.training.onnx_model import OnnxClassifier
from mlops_template.training.schema import infer_schema
from mlops_template.training.train import TrainingError, split_by_hash, train
from mlops_template.training.validation import validate_csv


def test_the_model_beats_the_dummy_baseline(trained):
    m, b = trained.manifest.metrics, trained.manifest.baseline_metrics
    assert m["roc_auc"] > 0.95 and b["roc_auc"] == pytest.approx(0.5)
    assert m["f1"] > 0.85 and b["f1"] == 0
    assert set(m) == {"accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"}


def test_same_data_config_and_seed_give_the_same_metrics_and_model_hash(
    typed_frame, schema, config, trained
):
    again = train(typed_frame, schema, config, data_sha256="test")
    assert again.manifest.metrics == trained.manifest.metrics
    assert again.manifest.model_sha256 == trained.manifest.model_sha256
    assert again.onnx_bytes == trained.onnx_bytes


def test_the_seed_drives_the_randomness(typed_frame, schema, config):
    # Gradient boosting on small data is deterministic anyway; a forest is not.
    forest = config.with_overrides(
        **{"model.algorithm": "random_forest", "model.params": {"n_estimators": 20}}
    )
    first = train(typed_frame, schema, forest, data_sha256="test")
    same = train(typed_frame, schema, forest, data_sha256="test")
    other = train(typed_frame, schema, forest.with_overrides(seed=7), data_sha256="test")
    assert first.manifest.model_sha256 == same.manifest.model_sha256
    assert other.manifest.model_sha256 != first.manifest.model_sha256


@pytest.mark.parametrize(
    "algorithm", ["logistic_regression", "random_forest", "hist_gradient_boosting"]
)
def test_every_algorithm_exports_to_onnx_with_parity(typed_frame, schema, config, algorithm):
    cfg = config.with_overrides(
        **{
            "model.algorithm": algorithm,
            "model.params": ({"n_estimators": 30} if algorithm == "random_forest" else {}),
        }
    )
    run = train(typed_frame, schema, cfg, data_sha256="test")
    assert run.manifest.parity_error < 1e-5
    assert run.manifest.metrics["roc_auc"] > 0.95


def test_onnx_probabilities_match_scikit_learn_on_every_row(trained, typed_frame, schema):
    assert parity_error(trained.pipeline, trained.onnx_bytes, typed_frame, schema) < 1e-5
    labels, probabilities = OnnxClassifier(trained.onnx_bytes, schema).predict_frame(typed_frame)
    assert set(labels) == {"benign", "malignant"}
    assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)


def test_records_and_frames_score_the_same(trained, typed_frame, schema):
    model = OnnxClassifier(trained.onnx_bytes, schema)
    records = typed_frame[schema.feature_names].head(20).to_dict(orient="records")
    _, from_records = model.predict_records(records)
    _, from_frame = model.predict_frame(typed_frame.head(20))
    assert np.allclose(from_records, from_frame)


def test_the_manifest_records_provenance(trained):
    m = trained.manifest
    assert m.data_sha256 == "test"
    assert m.code_version  # a git SHA, MLOPS_CODE_VERSION or "unknown"
    assert {"scikit-learn", "onnxruntime", "skl2onnx"} <= set(m.library_versions)
    assert {"fit", "export_onnx"} <= set(m.timings)
    assert m.config["seed"] == 42
    assert set(m.artifacts) == set(ARTIFACT_FILES)


def test_code_version_comes_from_the_environment_when_set(typed_frame, schema, config, monkeypatch):
    monkeypatch.setenv("MLOPS_CODE_VERSION", "abc123")
    run = train(typed_frame.head(200), schema, config, data_sha256="x")
    assert run.manifest.code_version == "abc123"


def test_run_directory_holds_every_artifact_and_the_manifest(trained, tmp_path):
    trained.write(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {*ARTIFACT_FILES, MANIFEST_FILE}


def test_hash_split_keeps_a_row_on_the_same_side_when_data_grows(typed_frame):
    small_train, small_test = split_by_hash(typed_frame.head(300), 0.2)
    _, big_test = split_by_hash(typed_frame, 0.2)
    assert set(small_test.index) <= set(big_test.index)
    assert not set(small_train.index) & set(big_test.index)
    assert 0.1 < len(big_test) / len(typed_frame) < 0.3


def test_training_refuses_a_split_with_one_class(typed_frame, schema, config):
    with pytest.raises(TrainingError, match="class"):
        train(typed_frame[typed_frame.diagnosis == "benign"], schema, config, data_sha256="x")


def test_unknown_hyperparameters_are_a_config_error(typed_frame, schema, config):
    bad = config.with_overrides(**{"model.params": {"depth_of_trees": 3}})
    with pytest.raises(ConfigError, match="depth_of_trees"):
        train(typed_frame, schema, bad, data_sha256="x")


def test_config_files_are_validated_with_the_field_named(tmp_path):
    good = tmp_path / "c.toml"
    good.write_text(
        'seed = 3\n[model]\nalgorithm = "random_forest"\nparams = {n_estimators = 10}\n'
    )
    assert load_config(good).model.algorithm == "random_forest"
    bad = tmp_path / "bad.json"
    bad.write_text('{"model": {"algorithm": "svm"}}')
    with pytest.raises(ConfigError, match=r"model\.algorithm"):
        load_config(bad)
    assert TrainingConfig().gate.metric_for("classification") == "roc_auc"


def test_identifiers_and_constants_are_not_model_inputs(customers_csv, config):
    schema = infer_schema(pd.read_csv(io.BytesIO(customers_csv)), TARGET)
    _, frame = validate_csv(customers_csv, schema)
    fast = config.with_overrides(**{"model.algorithm": "logistic_regression"})
    run = train(frame, schema, fast, data_sha256="x")
    inputs = [i.name for i in onnx.load_from_string(run.onnx_bytes).graph.input]
    assert inputs == schema.feature_names and "customer_id" not in inputs
    assert run.manifest.metrics["roc_auc"] > 0.95
