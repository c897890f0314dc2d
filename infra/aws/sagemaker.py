"""The TrainingLauncher port on SageMaker: CreateTrainingJob with the script-mode entry point,
then DescribeTrainingJob polling (no `.sync`: the same polling runs on emulators)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from mlops_template.core.records import TrainingJob
from mlops_template.core.settings import Settings
from mlops_template.infra.aws.clients import client

ENTRY_POINT = ["python", "-m", "mlops_template.training.sagemaker_entry"]


def job_name(model: str, run_id: str) -> str:
    """SageMaker job names: at most 63 characters of [a-zA-Z0-9-]."""
    return re.sub(r"[^a-zA-Z0-9-]+", "-", f"{model}-{run_id}").strip("-")[:63].rstrip("-")


@dataclass(frozen=True)
class TrainingJobSpec:
    """What every training job of an environment shares, whichever client starts it (boto3 in
    the pipeline's Lambda, the SageMaker SDK in the CLI)."""

    role_arn: str
    image_uri: str
    output_uri: str
    instance_type: str = "ml.m5.large"
    max_runtime_seconds: int = 3600
    kms_key_id: str = ""
    tags: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (self.role_arn and self.image_uri and self.output_uri):
            raise ValueError(
                "SageMaker training needs MLOPS_SAGEMAKER_ROLE_ARN, MLOPS_TRAINING_IMAGE_URI "
                "and MLOPS_ARTIFACT_BUCKET"
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> TrainingJobSpec:
        return cls(
            role_arn=settings.sagemaker_role_arn,
            image_uri=settings.training_image_uri,
            output_uri=f"s3://{settings.artifact_bucket}/sagemaker"
            if settings.artifact_bucket
            else "",
            instance_type=settings.sagemaker_instance_type,
            max_runtime_seconds=settings.training_max_runtime_seconds,
            kms_key_id=settings.kms_key_id,
            tags={"environment": settings.environment},
        )

    def output_path(self, model: str) -> str:
        return f"{self.output_uri.rstrip('/')}/{model}"


class SageMakerTrainingLauncher:
    def __init__(self, spec: TrainingJobSpec, *, sagemaker: Any = None) -> None:
        self.spec = spec
        self._sm = sagemaker or client("sagemaker")

    def start(
        self, *, model: str, run_id: str, dataset_uri: str, schema_uri: str, config_json: str
    ) -> TrainingJob:
        name = job_name(model, run_id)
        spec = self.spec
        output: dict[str, str] = {"S3OutputPath": spec.output_path(model)}
        if spec.kms_key_id:
            output["KmsKeyId"] = spec.kms_key_id
        self._sm.create_training_job(
            TrainingJobName=name,
            AlgorithmSpecification={
                "TrainingImage": spec.image_uri,
                "TrainingInputMode": "File",
                "ContainerEntrypoint": ENTRY_POINT,
            },
            RoleArn=spec.role_arn,
            HyperParameters={"config": config_json},
            InputDataConfig=[
                _channel("train", dataset_uri, "text/csv"),
                _channel("schema", schema_uri, "application/json"),
            ],
            OutputDataConfig=output,
            ResourceConfig={
                "InstanceType": spec.instance_type,
                "InstanceCount": 1,
                "VolumeSizeInGB": 10,
            },
            StoppingCondition={"MaxRuntimeInSeconds": spec.max_runtime_seconds},
            EnableNetworkIsolation=True,
            EnableInterContainerTrafficEncryption=True,
            Tags=[
                {"Key": k, "Value": v}
                for k, v in sorted({**spec.tags, "model": model, "run_id": run_id}.items())
            ],
        )
        return TrainingJob(name=name, status="InProgress")

    def status(self, name: str) -> TrainingJob:
        return describe_job(self._sm, name)


def describe_job(sagemaker: Any, name: str) -> TrainingJob:
    """A training job's state, whichever client (boto3 or the SDK's) asks."""
    job = sagemaker.describe_training_job(TrainingJobName=name)
    return TrainingJob(
        name=name,
        status=job["TrainingJobStatus"],
        failure_reason=job.get("FailureReason"),
        model_artifacts=job.get("ModelArtifacts", {}).get("S3ModelArtifacts"),
    )


def _channel(name: str, uri: str, content_type: str) -> dict[str, Any]:
    return {
        "ChannelName": name,
        "ContentType": content_type,
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": uri,
                "S3DataDistributionType": "FullyReplicated",
            }
        },
    }
