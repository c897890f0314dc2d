"""AWS adapters: S3, DynamoDB, CloudWatch, SageMaker and Step Functions behind the ports."""

from __future__ import annotations

from infra.aws.dynamodb import DynamoRegistry
from infra.aws.kms import KmsMacSigner
from infra.aws.metrics import CloudWatchMetricsSink, EmfMetricsSink
from infra.aws.predictions import DynamoPredictionLog
from infra.aws.s3 import S3BlobStore
from infra.backend import Backend
from infra.ports import MetricsSink
from infra.registry import Registry
from infra.settings import Settings


def aws_backend(settings: Settings) -> Backend:
    metrics: MetricsSink = (
        EmfMetricsSink(settings.metrics_namespace)
        if settings.metrics_sink == "emf"
        else CloudWatchMetricsSink(settings.metrics_namespace)
    )
    artifacts = S3BlobStore(settings.artifact_bucket, kms_key_id=settings.kms_key_id)
    return Backend(
        data=S3BlobStore(settings.data_bucket, kms_key_id=settings.kms_key_id),
        artifacts=artifacts,
        registry=Registry(DynamoRegistry(settings.registry_table), artifacts),
        metrics=metrics,
        predictions=DynamoPredictionLog(settings.predictions_table),
        signer=KmsMacSigner(settings.export_signing_key, settings.trusted_export_key_list),
        name="aws",
    )
