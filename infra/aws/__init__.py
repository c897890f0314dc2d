"""AWS adapters: S3, DynamoDB, Firehose, CloudWatch, KMS, SageMaker and Step Functions behind
the ports, and the factory that builds them from settings. Imports only the core (ports,
records, registry rules, settings); of the packages a function runs, only this one imports boto3."""

from __future__ import annotations

from mlops_template.core.backend import Backend
from mlops_template.core.ports import MetricsSink
from mlops_template.core.registry import Registry
from mlops_template.core.settings import Settings
from mlops_template.infra.aws.dynamodb import DynamoRegistry
from mlops_template.infra.aws.kms import KmsMacSigner
from mlops_template.infra.aws.metrics import CloudWatchMetricsSink, EmfMetricsSink
from mlops_template.infra.aws.predictions import FirehosePredictionLog
from mlops_template.infra.aws.s3 import S3BlobStore


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
        predictions=FirehosePredictionLog(
            settings.capture_stream, settings.data_bucket, settings.predictions_table
        ),
        signer=KmsMacSigner(settings.export_signing_key, settings.trusted_export_key_list),
        name="aws",
    )
