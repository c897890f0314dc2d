"""Azure Storage service clients, built in one place from the settings.

Deployed, the function app reaches its account with its managed identity (account name, no
key: MLOPS_AZURE_STORAGE_ACCOUNT_NAME); a connection string (Azurite's development account in
the tests and the emulated demo) takes precedence when set.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from mlops_template.core.settings import Settings


def _connection_string(settings: Settings) -> str:
    if not settings.azure_storage_connection_string and not settings.azure_storage_account_name:
        raise ValueError(
            "no storage account: set MLOPS_AZURE_STORAGE_ACCOUNT_NAME (managed identity) or "
            "MLOPS_AZURE_STORAGE_CONNECTION_STRING (backend azure)"
        )
    return settings.azure_storage_connection_string


@lru_cache(maxsize=1)
def _credential() -> Any:
    # Imported on first use: only a deployment without a connection string needs it.
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


def _endpoint(settings: Settings, service: str) -> str:
    return f"https://{settings.azure_storage_account_name}.{service}.core.windows.net"


def blob_service(settings: Settings) -> BlobServiceClient:
    if connection := _connection_string(settings):
        return BlobServiceClient.from_connection_string(connection)
    return BlobServiceClient(_endpoint(settings, "blob"), credential=_credential())


def table_service(settings: Settings) -> TableServiceClient:
    if connection := _connection_string(settings):
        return TableServiceClient.from_connection_string(connection)
    return TableServiceClient(_endpoint(settings, "table"), credential=_credential())


def queue_service(settings: Settings) -> QueueServiceClient:
    if connection := _connection_string(settings):
        return QueueServiceClient.from_connection_string(connection)
    return QueueServiceClient(_endpoint(settings, "queue"), credential=_credential())
