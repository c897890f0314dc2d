"""The script-mode entry point, run the way a SageMaker training job runs it."""

import json

import pytest

from mlops_template.training.files import ARTIFACT_FILES, MANIFEST_FILE
from mlops_template.training.sagemaker_entry import main


@pytest.fixture
def job(tmp_path, monkeypatch, csv_bytes):
    channel = tmp_path / "input" / "data" / "train"
    channel.mkdir(parents=True)
    (channel / "data.csv").write_bytes(csv_bytes)
    monkeypatch.setenv("SM_CHANNEL_TRAIN", str(channel))
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "model"))
    monkeypatch.setenv("SM_OUTPUT_DIR", str(tmp_path / "output"))
    return tmp_path


def test_script_mode_writes_the_same_artifacts_as_a_local_run(job, trained, monkeypatch):
    monkeypatch.setenv("SM_HPS", json.dumps({"model_name": "breast-cancer"}))
    assert main(["--target", "diagnosis"]) == 0
    written = {p.name for p in (job / "model").iterdir()}
    assert written == {*ARTIFACT_FILES, MANIFEST_FILE}
    manifest = json.loads((job / "model" / MANIFEST_FILE).read_text())
    # Same data, config and seed as the in-process run: the same model bytes.
    assert manifest["model_sha256"] == trained.manifest.model_sha256
    assert manifest["metrics"] == trained.manifest.metrics


def test_hyperparameters_choose_the_algorithm_and_its_params(job):
    assert (
        main(
            [
                "--target",
                "diagnosis",
                "--algorithm",
                "random_forest",
                "--params",
                '{"n_estimators": 15}',
                "--seed",
                "3",
            ]
        )
        == 0
    )
    manifest = json.loads((job / "model" / MANIFEST_FILE).read_text())
    assert manifest["config"]["model"] == {
        "algorithm": "random_forest",
        "params": {"n_estimators": 15},
        "factory": None,
    }
    assert manifest["config"]["seed"] == 3


def test_a_failed_job_writes_its_reason_for_sagemaker(job):
    assert main(["--target", "diagnosis", "--algorithm", "svm"]) == 1
    assert "model.algorithm" in (job / "output" / "failure").read_text()
    assert not (job / "model").exists()
