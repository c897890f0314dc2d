"""The Azure ML training job, built offline: the same entry point and image as the SageMaker
job, the claimed blob in, the artifacts container out. Nothing is submitted (that needs a
workspace: docs/azure.md)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import yaml

from mlops_template.core.settings import Settings
from mlops_template.infra.azure.azureml import (
    ENTRY_MODULE,
    AzureMLJobSpec,
    AzureMLTrainingLauncher,
    build_job,
    job_name,
)

ACCOUNT = "https://acct.blob.core.windows.net"
DATA = f"{ACCOUNT}/data/claimed/diabetes/run-1/incoming/diabetes.csv"
CONFIG = json.dumps({"target": "diagnosis", "algorithm": "random_forest"})


@pytest.fixture
def spec() -> AzureMLJobSpec:
    settings = Settings(
        environment="staging",
        azureml_subscription_id="00000000-0000-0000-0000-000000000000",
        azureml_resource_group="rg-mlops",
        azureml_workspace="mlw-mlops",
        azureml_compute="cpu-cluster",
        training_image_uri="mlopsacr.azurecr.io/training:1.2.3",
        training_max_runtime_seconds=1800,
    )
    return AzureMLJobSpec.from_settings(settings, output_uri=f"{ACCOUNT}/artifacts")


def test_the_job_runs_the_training_entry_in_the_training_image(spec):
    job = build_job(spec, model="diabetes", run_id="run:1", dataset_uri=DATA, config_json=CONFIG)
    described = yaml.safe_load(job._to_yaml())  # what `az ml job create --file` would take
    sent = job._to_job()._to_rest_object().as_dict()["properties"]  # what the SDK sends

    assert described["type"] == "command"
    assert job.name == job_name("diabetes", "run:1") == "diabetes-run-1"
    assert described["compute"] == "azureml:cpu-cluster"
    assert described["environment"]["image"] == "mlopsacr.azurecr.io/training:1.2.3"
    command = sent["command"]
    assert f"python -m {ENTRY_MODULE}" in command
    # The entry's channels point at the job's mounts.
    assert "SM_CHANNEL_TRAIN=$(dirname ${{inputs.train}})" in command
    assert "SM_MODEL_DIR=${{outputs.model}}" in command
    assert "--config '${{inputs.config}}'" in command
    assert sent["inputs"]["train"] == {
        "uri": DATA,
        "mode": "ReadOnlyMount",
        "jobInputType": "uri_file",
    }
    assert json.loads(sent["inputs"]["config"]["value"]) == json.loads(CONFIG)
    out = f"{ACCOUNT}/artifacts/azureml/diabetes/diabetes-run-1/"
    assert sent["outputs"]["model"]["uri"] == out
    assert sent["outputs"]["model"]["mode"] == "ReadWriteMount"
    assert described["limits"]["timeout"] == 1800
    assert job.tags == {"environment": "staging", "model": "diabetes", "run_id": "run:1"}


def test_the_models_contract_is_mounted_as_the_schema_channel(spec):
    schema = f"{ACCOUNT}/data/schemas/diabetes/schema.json"
    job = build_job(
        spec, model="m", run_id="r", dataset_uri=DATA, config_json=CONFIG, schema_uri=schema
    )
    sent = job._to_job()._to_rest_object().as_dict()["properties"]
    assert sent["inputs"]["schema"]["uri"] == schema
    assert "SM_CHANNEL_SCHEMA=$(dirname ${{inputs.schema}})" in sent["command"]
    without = build_job(spec, model="m", run_id="r", dataset_uri=DATA, config_json=CONFIG)
    assert "schema" not in without.inputs
    assert "SM_CHANNEL_SCHEMA" not in without.command


def test_a_quote_in_the_config_cannot_end_the_commands_quoting(spec):
    config = json.dumps({"target": "diagnosis", "notes": "it's the 'new' data"})
    job = build_job(spec, model="m", run_id="r", dataset_uri=DATA, config_json=config)
    sent = job._to_job()._to_rest_object().as_dict()["properties"]
    assert "'" not in sent["inputs"]["config"]["value"]
    assert json.loads(sent["inputs"]["config"]["value"]) == json.loads(config)


def test_a_config_that_is_not_json_is_refused_before_anything_is_sent(spec):
    with pytest.raises(ValueError):
        build_job(spec, model="m", run_id="r", dataset_uri=DATA, config_json="{not json")


def test_a_workspace_without_its_settings_is_refused_by_name():
    with pytest.raises(ValueError, match=r"MLOPS_AZUREML_WORKSPACE.*MLOPS_TRAINING_IMAGE_URI"):
        AzureMLJobSpec.from_settings(
            Settings(azureml_subscription_id="s", azureml_resource_group="g"),
            output_uri=f"{ACCOUNT}/artifacts",
        )


def test_job_names_start_with_a_letter():
    assert job_name("7model", "r") == "train-7model-r"


def test_the_launcher_reports_azure_ml_states_in_the_ports_words(spec):
    class Jobs:
        """The SDK's job operations as far as the launcher reads them."""

        def __init__(self) -> None:
            self.sent: list = []

        def create_or_update(self, job):
            self.sent.append(job)
            return SimpleNamespace(name=job.name, status="Starting", tags=job.tags)

        def get(self, name):
            # The service names the output in its datastore form: the launcher reads the tags.
            job = self.sent[-1]
            return SimpleNamespace(
                name=name,
                status="Completed",
                tags=job.tags,
                outputs={
                    "model": SimpleNamespace(path="azureml://datastores/artifacts/paths/azureml/x/")
                },
            )

    class Client:
        jobs = Jobs()

    launcher = AzureMLTrainingLauncher(spec, ml_client=Client())
    started = launcher.start(
        model="diabetes", run_id="r1", dataset_uri=DATA, schema_uri="", config_json=CONFIG
    )
    assert (started.name, started.status) == ("diabetes-r1", "InProgress")
    done = launcher.status("diabetes-r1")
    assert done.status == "Completed"
    assert done.model_artifacts == f"{ACCOUNT}/artifacts/azureml/diabetes/diabetes-r1/"
