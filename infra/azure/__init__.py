"""Azure adapters: Blob Storage and Table Storage behind the ports (a second provider, proof that
the ports are provider-neutral).

Modules here may import only the core (ports, records, registry rules, settings, the HMAC
signer); the Azure SDKs are imported only inside this package, so the AWS and local paths never
load them.
"""

from __future__ import annotations

from mlops_template.core.backend import Backend
from mlops_template.core.registry import Registry
from mlops_template.core.settings import Settings
from mlops_template.infra.azure.blobstore import AzureBlobStore
from mlops_template.infra.azure.clients import blob_service, table_service
from mlops_template.infra.azure.metrics import LogMetricsSink
from mlops_template.infra.azure.predictions import BlobPredictionLog
from mlops_template.infra.azure.registry import TableRegistry
from mlops_template.infra.azure.signing import AppSettingSigner


def azure_backend(settings: Settings) -> Backend:
    blobs, tables = blob_service(settings), table_service(settings)
    artifacts = AzureBlobStore(blobs.get_container_client(settings.azure_artifact_container))
    data = blobs.get_container_client(settings.azure_data_container)
    return Backend(
        data=AzureBlobStore(data),
        artifacts=artifacts,
        registry=Registry(
            TableRegistry(tables.get_table_client(settings.azure_registry_table)), artifacts
        ),
        metrics=LogMetricsSink(),
        predictions=BlobPredictionLog(
            data, tables.get_table_client(settings.azure_predictions_table)
        ),
        signer=AppSettingSigner(settings.export_signing_key, settings.trusted_export_key_list),
        name="azure",
    )
