"""Every environment variable the CLI and the Lambda handlers read, in one place.

Terraform sets these on each function; a contract test holds the two together. Names are the
field names upper-cased with the MLOPS_ prefix (e.g. `data_bucket` -> MLOPS_DATA_BUCKET), and
MLflow's own MLFLOW_TRACKING_URI is read as it is (MLOPS_MLFLOW_TRACKING_URI works too).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from mlops_template.training.config import ModelName

# Memory the pipeline functions use before they read any data (the interpreter and the training
# libraries imported), and how many times a data file's size they need beyond it: the two numbers
# of the size route (Settings.lambda_max_data_bytes, docs/data-plane.md).
LAMBDA_RUNTIME_MB = 512
DATA_MEMORY_FACTOR = 4


class Settings(BaseSettings):
    # validate_by_name: a field with its own variable (mlflow_tracking_uri) is still set by name.
    model_config = SettingsConfigDict(
        env_prefix="MLOPS_", extra="ignore", frozen=True, validate_by_name=True
    )

    backend: Literal["local", "aws", "azure"] = "local"
    home: Path = Field(default=Path(".mlops"), description="Local backend state directory.")
    model_name: ModelName = "model"
    serving_stage: str = Field(default="production", description="Stage the API serves.")
    model_refresh_seconds: float = Field(
        default=30.0, ge=0, description="How often the API checks whether its stage moved."
    )
    capture_sample_rate: float = Field(
        default=1.0, ge=0, le=1, description="Share of prediction requests captured for drift."
    )
    max_batch_records: int = Field(default=10_000, ge=1)
    max_body_bytes: int = Field(default=6 * 1024 * 1024, ge=1024)
    read_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="A request body not received within this many seconds is answered 408 and "
        "its connection closed; under `mlops serve`, so is a connection whose request headers "
        "take longer (slow clients cannot hold the server).",
    )
    max_connections: int = Field(
        default=100,
        ge=1,
        description="`mlops serve`: connections served at once; a request beyond them is "
        "answered 503.",
    )

    # AWS adapters (MLOPS_BACKEND=aws); AWS_ENDPOINT_URL points them at an emulator.
    data_bucket: str = ""
    artifact_bucket: str = ""
    registry_table: str = ""
    predictions_table: str = Field(
        default="", description="Feedback labels (one item per labelled prediction)."
    )
    monitor_window_hours: float = Field(
        default=24.0,
        gt=0,
        le=24 * 31,
        description="The monitor reads every capture of this many hours up to its run.",
    )
    drift_window_hours: float = Field(
        default=0.0,
        ge=0,
        le=24 * 31,
        description="The monitor also computes drift per window of this many hours within its "
        "window (168: week by week); 0: over the whole window only.",
    )
    capture_stream: str = Field(
        default="",
        description="Firehose delivery stream captures go through, to the data bucket's "
        "captures/ prefix (core/captures.py).",
    )
    idempotency_table: str = ""
    state_machine_arn: str = ""
    batch_state_machine_arn: str = Field(
        default="", description="The batch-scoring state machine (`mlops batch start` on AWS)."
    )
    kms_key_id: str = Field(default="", description="KMS key for S3 writes (default: aws/s3).")
    metrics_namespace: str = "MLOps"
    stream_output_queue_url: str = Field(
        default="",
        description="Streaming scoring: the SQS queue its results are sent to (local backend: "
        "results are appended to MLOPS_HOME/stream-results.jsonl).",
    )
    feature_table: str = Field(
        default="",
        description="The online feature store's DynamoDB table (AWS); unset: no entity lookup "
        "at /predict. Locally the store is MLOPS_HOME/online-features.db.",
    )
    feature_repo: str = Field(
        default="",
        description="The feature definitions file (entities and views) the streaming function "
        'ingests `{"feature_view": ...}` messages with, and the validate step joins label files '
        "with (a config's features_from); unset: neither can be done.",
    )
    feature_missing: Literal["reject", "default"] = Field(
        default="reject",
        description="/predict with an entity whose features are missing or older than the "
        "view's TTL: reject (422 naming it) or default (null, as the training set held).",
    )
    metrics_sink: Literal["cloudwatch", "emf"] = Field(
        default="cloudwatch", description="emf on Lambda hot paths, cloudwatch elsewhere."
    )

    # Azure adapters (MLOPS_BACKEND=azure): one storage account, Blob containers and Tables.
    azure_storage_connection_string: str = Field(
        default="",
        description="Connection string of the storage account (an app setting, or a Key Vault "
        "reference to one); Azurite's development account in the tests.",
    )
    azure_data_container: str = "data"
    azure_artifact_container: str = "artifacts"
    azure_registry_table: str = "registry"
    azure_predictions_table: str = "predictions"
    azure_feature_table: str = Field(
        default="", description="The online feature store's table (Azure); unset: none."
    )
    azure_storage_account_name: str = Field(
        default="",
        description="Storage account reached with the function app's managed identity (no key) "
        "when no connection string is set: what Terraform sets on Azure.",
    )
    azure_pipeline_queue_prefix: str = Field(
        default="pipeline",
        description="The pipeline's Storage queues are <prefix>-<step> (core/pipeline_steps.json).",
    )
    azure_stream_output_queue: str = Field(
        default="", description="Streaming scoring on Azure: the Storage queue results go to."
    )
    applicationinsights_connection_string: str = Field(
        default="",
        # The platform's own variable (the function app's site_config sets it).
        validation_alias=AliasChoices(
            "APPLICATIONINSIGHTS_CONNECTION_STRING", "MLOPS_APPLICATIONINSIGHTS_CONNECTION_STRING"
        ),
        description="Azure: metrics go to this Application Insights (customMetrics) through "
        "OpenTelemetry; without it, one JSON log line per metric.",
    )
    applicationinsights_authentication_string: str = Field(
        default="",
        validation_alias=AliasChoices(
            "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
            "MLOPS_APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
        ),
        description="`Authorization=AAD`: telemetry is sent with the managed identity.",
    )
    azure_max_dequeue_count: int = Field(
        default=5,
        ge=1,
        description="Deliveries of a pipeline message before it goes to <queue>-poison (host.json "
        "extensions.queues.maxDequeueCount says the same).",
    )

    # Where a pipeline run validates and trains: in the Lambda functions for files they can hold,
    # in a SageMaker Processing job and a Training job for bigger ones (docs/data-plane.md).
    training_mode: Literal["auto", "lambda", "sagemaker"] = Field(
        default="auto",
        description="auto: by the file's size (lambda_max_data_bytes); lambda or sagemaker "
        "force one engine whatever the size.",
    )
    pipeline_memory_mb: int = Field(
        default=3008,
        ge=128,
        le=10240,
        description="Memory of the validate and train functions (Terraform: training_memory_mb); "
        "the size route is computed from it.",
    )
    sagemaker_role_arn: str = ""
    training_image_uri: str = ""
    sagemaker_instance_type: str = Field(
        default="ml.m5.large", description="Instance type of the SageMaker training jobs."
    )
    processing_instance_type: str = Field(
        default="ml.m5.xlarge",
        description="Instance type of the SageMaker Processing jobs that validate big files.",
    )
    training_max_runtime_seconds: int = Field(default=3600, ge=60)
    # Azure: big files train in an Azure Machine Learning command job (infra/azure/azureml.py)
    # when a workspace is named; without one the function trains whatever the size.
    azureml_subscription_id: str = ""
    azureml_resource_group: str = ""
    azureml_workspace: str = Field(
        default="", description="Azure ML workspace for big files' training (empty: none)."
    )
    azureml_compute: str = Field(
        default="cpu-cluster", description="Azure ML compute cluster the training jobs run on."
    )

    @property
    def lambda_max_data_bytes(self) -> int:
        """The biggest data file the pipeline's functions take; bigger ones go to SageMaker.

            (pipeline_memory_mb - LAMBDA_RUNTIME_MB) MiB / DATA_MEMORY_FACTOR

        The runtime (Python, pandas, scikit-learn, ONNX) is held apart, and what is left must
        hold the file DATA_MEMORY_FACTOR times: training's preparation holds at most 3x the
        file, plus one more for the model's own copy while it fits."""
        usable = max(self.pipeline_memory_mb - LAMBDA_RUNTIME_MB, 0)
        return usable * 1024 * 1024 // DATA_MEMORY_FACTOR

    # Reactions to alarms.
    retrain_cooldown_seconds: int = Field(
        default=6 * 3600, ge=60, description="One retraining per alarm within this window."
    )
    rollback_window_seconds: int = Field(
        default=3600, ge=60, description="Only a promotion this recent is rolled back on alarm."
    )
    auto_promote_stage: str = Field(
        default="", description="Stage a registered version goes to automatically (dev: staging)."
    )
    api_base_path: str = Field(default="", description="Path prefix of a custom domain mapping.")
    code_version: str = Field(
        default="",
        description="Git commit of the deployed code; training.provenance reads it directly "
        "(training imports nothing of ours) and records it with every model version.",
    )
    environment: str = Field(default="dev", description="dev, staging or prod.")
    export_signing_key: str = Field(
        default="",
        description="Signs model exports (HMAC-SHA-256 over the version record). AWS: a KMS HMAC "
        "key (id, ARN or alias); local: the secret itself (default: a random key kept in "
        "MLOPS_HOME/export-signing.key).",
    )
    trusted_export_keys: str = Field(
        default="",
        description="Comma-separated keys whose export signatures an import accepts besides this "
        "environment's own: those of the environments it imports from.",
    )
    # Optional MLflow (pip install '.[mlflow]'): each ended run is also logged there.
    mlflow_tracking_uri: str = Field(
        default="",
        # MLflow's own variable first, so a team's existing setting is picked up as it is.
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "MLOPS_MLFLOW_TRACKING_URI"),
        description="MLflow tracking URI (http(s)://, databricks, file:///path...): each ended "
        "run is also logged there, with its params, metrics, tags and ONNX model.",
    )

    @property
    def trusted_export_key_list(self) -> list[str]:
        return [key.strip() for key in self.trusted_export_keys.split(",") if key.strip()]


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment variables that reproduce these settings (what Terraform sets)."""
    prefix = Settings.model_config.get("env_prefix", "")
    return {f"{prefix}{name}".upper(): str(value) for name, value in settings.model_dump().items()}


# Terraform outputs (terraform/environment) -> the settings a CLI needs to act on that environment.
TERRAFORM_OUTPUTS = {
    "model_name": "MLOPS_MODEL_NAME",
    "environment": "MLOPS_ENVIRONMENT",
    "data_bucket": "MLOPS_DATA_BUCKET",
    "artifact_bucket": "MLOPS_ARTIFACT_BUCKET",
    "registry_table": "MLOPS_REGISTRY_TABLE",
    "predictions_table": "MLOPS_PREDICTIONS_TABLE",
    "state_machine_arn": "MLOPS_STATE_MACHINE_ARN",
    "batch_state_machine_arn": "MLOPS_BATCH_STATE_MACHINE_ARN",
    "kms_key_arn": "MLOPS_KMS_KEY_ID",
    "export_signing_key": "MLOPS_EXPORT_SIGNING_KEY",
    "trusted_export_keys": "MLOPS_TRUSTED_EXPORT_KEYS",
}


def env_from_terraform_outputs(outputs: dict[str, dict[str, object]]) -> dict[str, str]:
    """`terraform output -json` of an environment as MLOPS_* variables (backend aws)."""
    env = {"MLOPS_BACKEND": "aws"}
    missing = [name for name in TERRAFORM_OUTPUTS if name not in outputs]
    if missing:
        raise KeyError(f"terraform outputs lack {missing}")
    for name, variable in TERRAFORM_OUTPUTS.items():
        env[variable] = str(outputs[name]["value"])
    return env


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
