"""The TrainingLauncher port on Azure Machine Learning: a command job running the same training
entry point, in the same image, as a SageMaker training job (infra/aws/sagemaker.py).

The job reads the claimed file by its blob URI and writes the model directory to the artifacts
container. `azure-ai-ml` is the optional extra `[azureml]`: it is imported only here, and only
when a workspace is configured (Settings.azureml_workspace)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from mlops_template.core.records import TrainingJob
from mlops_template.core.settings import Settings

ENTRY_MODULE = "mlops_template.training.sagemaker_entry"

# The entry reads SageMaker's channel variables; Azure ML mounts inputs and outputs where it
# likes, so the command points those variables at the mounts. The train channel is a folder:
# the input is the one claimed file, so its folder is the channel.
COMMAND = (
    "SM_CHANNEL_TRAIN=$(dirname ${{inputs.train}}) "
    "SM_MODEL_DIR=${{outputs.model}} "
    "SM_OUTPUT_DIR=${{outputs.model}} "
    f"python -m {ENTRY_MODULE} --config '${{{{inputs.config}}}}'"
)

JobStatus = Literal["InProgress", "Completed", "Failed", "Stopping", "Stopped"]

SCHEMA_CHANNEL = "SM_CHANNEL_SCHEMA=$(dirname ${{inputs.schema}}) "

# Azure ML's job states, in the port's words.
_STATUS: dict[str, JobStatus] = {
    "Completed": "Completed",
    "Failed": "Failed",
    "Canceled": "Stopped",
    "CancelRequested": "Stopping",
    "NotResponding": "Failed",
}


def job_name(model: str, run_id: str) -> str:
    """Azure ML job names: letters, digits, `-` and `_`, at most 255, starting with a letter."""
    name = re.sub(r"[^a-zA-Z0-9_-]+", "-", f"{model}-{run_id}").strip("-")[:255]
    return name if name[:1].isalpha() else f"train-{name}"[:255]


@dataclass(frozen=True)
class AzureMLJobSpec:
    """What every training job of an environment shares."""

    subscription_id: str
    resource_group: str
    workspace: str
    compute: str
    image_uri: str
    output_uri: str
    max_runtime_seconds: int = 3600
    tags: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [
            name
            for name, value in (
                ("MLOPS_AZUREML_SUBSCRIPTION_ID", self.subscription_id),
                ("MLOPS_AZUREML_RESOURCE_GROUP", self.resource_group),
                ("MLOPS_AZUREML_WORKSPACE", self.workspace),
                ("MLOPS_AZUREML_COMPUTE", self.compute),
                ("MLOPS_TRAINING_IMAGE_URI", self.image_uri),
                ("the artifacts container", self.output_uri),
            )
            if not value
        ]
        if missing:
            raise ValueError(f"Azure ML training needs {', '.join(missing)}")

    @classmethod
    def from_settings(cls, settings: Settings, *, output_uri: str) -> AzureMLJobSpec:
        return cls(
            subscription_id=settings.azureml_subscription_id,
            resource_group=settings.azureml_resource_group,
            workspace=settings.azureml_workspace,
            compute=settings.azureml_compute,
            image_uri=settings.training_image_uri,
            output_uri=output_uri,
            max_runtime_seconds=settings.training_max_runtime_seconds,
            tags={"environment": settings.environment},
        )

    def output_path(self, model: str, run_id: str) -> str:
        return f"{self.output_uri.rstrip('/')}/azureml/{model}/{job_name(model, run_id)}/"


def build_job(
    spec: AzureMLJobSpec,
    *,
    model: str,
    run_id: str,
    dataset_uri: str,
    config_json: str,
    schema_uri: str = "",
) -> Any:
    """The command job (azure.ai.ml.entities.Command), built offline: nothing is sent.
    `schema_uri`: the model's data contract (a blob); without it the entry derives one."""
    from azure.ai.ml import Input, Output, command
    from azure.ai.ml.constants import AssetTypes, InputOutputModes
    from azure.ai.ml.entities import Environment

    json.loads(config_json)  # a config that is not JSON fails here, not on the cluster
    # The value is put into the command between single quotes: a quote in a string of the
    # config would end them. JSON's own escape keeps the same config, shell-safe.
    config_json = config_json.replace("'", "\\u0027")
    return command(
        name=job_name(model, run_id),
        display_name=f"train {model} {run_id}",
        experiment_name=model,
        command=SCHEMA_CHANNEL + COMMAND if schema_uri else COMMAND,
        environment=Environment(image=spec.image_uri),
        compute=spec.compute,
        inputs={
            "train": Input(
                type=AssetTypes.URI_FILE, path=dataset_uri, mode=InputOutputModes.RO_MOUNT
            ),
            "config": config_json,
            **(
                {
                    "schema": Input(
                        type=AssetTypes.URI_FILE, path=schema_uri, mode=InputOutputModes.RO_MOUNT
                    )
                }
                if schema_uri
                else {}
            ),
        },
        outputs={
            "model": Output(
                type=AssetTypes.URI_FOLDER,
                path=spec.output_path(model, run_id),
                mode=InputOutputModes.RW_MOUNT,
            )
        },
        timeout=spec.max_runtime_seconds,
        tags={**spec.tags, "model": model, "run_id": run_id},
    )


class AzureMLTrainingLauncher:
    """Submits the job with the function app's identity (DefaultAzureCredential); that identity
    needs the AzureML Data Scientist role on the workspace."""

    def __init__(self, spec: AzureMLJobSpec, *, ml_client: Any = None) -> None:
        self.spec = spec
        self._client = ml_client

    @property
    def client(self) -> Any:
        if self._client is None:
            from azure.ai.ml import MLClient
            from azure.identity import DefaultAzureCredential

            self._client = MLClient(
                DefaultAzureCredential(),
                self.spec.subscription_id,
                self.spec.resource_group,
                self.spec.workspace,
            )
        return self._client

    def start(
        self, *, model: str, run_id: str, dataset_uri: str, schema_uri: str, config_json: str
    ) -> TrainingJob:
        job = build_job(
            self.spec,
            model=model,
            run_id=run_id,
            dataset_uri=dataset_uri,
            config_json=config_json,
            schema_uri=schema_uri,
        )
        submitted = self.client.jobs.create_or_update(job)
        return self._record(submitted)

    def status(self, name: str) -> TrainingJob:
        return self._record(self.client.jobs.get(name))

    def _record(self, job: Any) -> TrainingJob:
        status: JobStatus = _STATUS.get(str(job.status), "InProgress")
        # Where the model folder is, from the job's own tags: the service may report the
        # output's path in its datastore form (azureml://...), not the URI it was given.
        model = (getattr(job, "tags", None) or {}).get("model")
        return TrainingJob(
            name=str(job.name),
            status=status,
            failure_reason=None if status != "Failed" else f"Azure ML job {job.status}",
            model_artifacts=(
                f"{self.spec.output_uri.rstrip('/')}/azureml/{model}/{job.name}/" if model else None
            ),
        )
