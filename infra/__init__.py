"""Adapters only: one package per provider (`local`, `aws`, `azure`), each with one factory
that builds the core's ports from settings, and optional run trackers (`mlflow`). May import the
core's ports, records, registry rules and settings; never `functions`, `tooling` or another
provider's package. The functions here are the one place that picks a provider."""

from __future__ import annotations

from mlops_template.core.backend import Backend
from mlops_template.core.chain import StepQueues
from mlops_template.core.ports import PipelineStarter, ResultQueue, TrainingLauncher
from mlops_template.core.settings import Settings


def build_backend(settings: Settings) -> Backend:
    """The provider's ports, and the run trackers the settings ask for (MLflow when
    MLFLOW_TRACKING_URI is set: TrackerUnavailable if the `mlflow` extra is not installed)."""
    backend = _provider_backend(settings)
    if settings.mlflow_tracking_uri:
        from mlops_template.infra.mlflow import mlflow_tracker

        backend.trackers.append(mlflow_tracker(settings))
    return backend


def _provider_backend(settings: Settings) -> Backend:
    # Imported on demand: a provider's SDK loads only where that provider is used.
    if settings.backend == "aws":
        from mlops_template.infra.aws import aws_backend

        return aws_backend(settings)
    if settings.backend == "azure":
        from mlops_template.infra.azure import azure_backend

        return azure_backend(settings)
    from mlops_template.infra.local import local_backend

    return local_backend(settings)


def build_pipeline_starter(settings: Settings, backend: Backend) -> PipelineStarter:
    """Where a pipeline run starts: Step Functions on AWS, the Storage-queue chain on Azure
    (core/chain.py), in this process otherwise."""
    if settings.backend == "aws":
        from mlops_template.infra.aws.stepfunctions import StepFunctionsPipelineStarter

        return StepFunctionsPipelineStarter(settings.state_machine_arn)
    if settings.backend == "azure":
        from mlops_template.core.chain import QueuePipelineStarter
        from mlops_template.infra.azure.clients import queue_service
        from mlops_template.infra.azure.queues import StorageQueues

        return QueuePipelineStarter(
            backend,
            StorageQueues(queue_service(settings)),
            prefix=settings.azure_pipeline_queue_prefix,
            promote_to=settings.auto_promote_stage or None,
        )
    from mlops_template.core.starter import LocalPipelineStarter

    return LocalPipelineStarter(backend)


def build_step_queues(settings: Settings) -> StepQueues:
    """The pipeline's step queues (core/chain.py): Storage queues on Azure."""
    if settings.backend != "azure":
        raise ValueError(f"the queue-chained pipeline runs on Azure, not {settings.backend!r}")
    from mlops_template.infra.azure.clients import queue_service
    from mlops_template.infra.azure.queues import StorageQueues

    return StorageQueues(queue_service(settings))


def build_result_queue(settings: Settings) -> ResultQueue:
    """Where streaming scoring sends its results: the SQS queue MLOPS_STREAM_OUTPUT_QUEUE_URL
    on AWS, the Storage queue MLOPS_AZURE_STREAM_OUTPUT_QUEUE on Azure, a JSON-lines file under
    MLOPS_HOME locally."""
    if settings.backend == "aws":
        from mlops_template.infra.aws.sqs import SqsResultQueue

        return SqsResultQueue(settings.stream_output_queue_url)
    if settings.backend == "azure":
        from mlops_template.infra.azure.clients import queue_service
        from mlops_template.infra.azure.queues import StorageQueues, StorageResultQueue

        return StorageResultQueue(
            StorageQueues(queue_service(settings)), settings.azure_stream_output_queue
        )
    from mlops_template.infra.local.results import JsonLinesResultQueue

    return JsonLinesResultQueue(settings.home / "stream-results.jsonl")


def build_training_launcher(
    settings: Settings, *, sdk: bool = False, client: object | None = None
) -> TrainingLauncher:
    """Training elsewhere: on Azure an Azure ML command job (the `[azureml]` extra), writing to
    the artifacts container; else SageMaker, with boto3 inside the pipeline's functions, or the
    SageMaker Python SDK (`sdk=True`, an optional extra) for `mlops train --on sagemaker`.
    `client`: Azure ML's job client (MLClient) to use instead of one signed in with the
    identity (the emulator's in-process job runner)."""
    if settings.backend == "azure":
        from mlops_template.infra.azure.azureml import AzureMLJobSpec, AzureMLTrainingLauncher
        from mlops_template.infra.azure.clients import blob_service

        artifacts = blob_service(settings).get_container_client(settings.azure_artifact_container)
        return AzureMLTrainingLauncher(
            AzureMLJobSpec.from_settings(settings, output_uri=str(artifacts.url)), ml_client=client
        )
    from mlops_template.infra.aws.sagemaker import SageMakerTrainingLauncher, TrainingJobSpec

    spec = TrainingJobSpec.from_settings(settings)
    if sdk:
        from mlops_template.infra.aws.sagemaker_sdk import SdkTrainingLauncher

        return SdkTrainingLauncher(spec)
    return SageMakerTrainingLauncher(spec)


def forget_clients() -> None:
    """Drop cached provider clients (the tests switch accounts and regions between cases)."""
    import sys

    aws = sys.modules.get(f"{__name__}.aws.clients")
    if aws is not None:  # only a provider already in use has clients to forget
        aws.client.cache_clear()
