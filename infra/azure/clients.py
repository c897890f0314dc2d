"""Azure Storage service clients, built in one place from the settings.

One connection string (an app setting, or a Key Vault reference to one) reaches the account's
Blob and Table endpoints; Azurite's development account in the tests.
"""

from __future__ import annotations

from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

from mlops_template.core.settings import Settings


def _connection_string(settings: Settings) -> str:
    if not settings.azure_storage_connection_string:
        raise ValueError(
            "no storage account: set MLOPS_AZURE_STORAGE_CONNECTION_STRING (backend azure)"
        )
    return settings.azure_storage_connection_string


def blob_service(settings: Settings) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(_connection_string(settings))


def table_service(settings: Settings) -> TableServiceClient:
    return TableServiceClient.from_connection_string(_connection_string(settings))
