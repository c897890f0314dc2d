"""The contract suites run once per adapter: local (files, SQLite), AWS (moto)
and Azure (Azurite)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_template.core.registry import Registry
from mlops_template.infra.local.blobstore import FileBlobStore
from mlops_template.infra.local.predictions import FilePredictionLog
from mlops_template.infra.local.registry import SqliteRegistry


@pytest.fixture(params=["sqlite", "dynamodb", "azure-table"])
def registry(request, tmp_path: Path) -> Registry:
    """The registry over its artifact store: files with SQLite, S3 with DynamoDB, Blob Storage
    with Table Storage."""
    if request.param == "sqlite":
        return Registry(SqliteRegistry(tmp_path / "registry.db"), FileBlobStore(tmp_path / "a"))
    if request.param == "azure-table":
        from mlops_template.infra.azure.blobstore import AzureBlobStore
        from mlops_template.infra.azure.registry import TableRegistry

        container, table = (request.getfixturevalue(f) for f in ("azure_container", "azure_table"))
        return Registry(TableRegistry(table("registry")), AzureBlobStore(container("artifacts")))
    from mlops_template.infra.aws.dynamodb import DynamoRegistry
    from mlops_template.infra.aws.s3 import S3BlobStore

    settings = request.getfixturevalue("aws")
    return Registry(DynamoRegistry(settings.registry_table), S3BlobStore(settings.artifact_bucket))


@pytest.fixture(params=["files", "s3", "azure-blob"])
def blobstore(request, tmp_path: Path):
    if request.param == "files":
        return FileBlobStore(tmp_path / "bucket")
    if request.param == "azure-blob":
        from mlops_template.infra.azure.blobstore import AzureBlobStore

        return AzureBlobStore(request.getfixturevalue("azure_container")("data"))
    from mlops_template.infra.aws.s3 import S3BlobStore

    return S3BlobStore(request.getfixturevalue("aws").data_bucket)


@pytest.fixture(params=["files", "firehose", "azure-blob"])
def prediction_log(request, tmp_path: Path):
    """Captures as JSON lines: files, Firehose to S3 (moto), Blob Storage (Azurite)."""
    if request.param == "files":
        return FilePredictionLog(tmp_path / "home")
    if request.param == "azure-blob":
        from mlops_template.infra.azure.predictions import BlobPredictionLog

        container, table = (request.getfixturevalue(f) for f in ("azure_container", "azure_table"))
        return BlobPredictionLog(container("data"), table("predictions"))
    from mlops_template.infra.aws.predictions import FirehosePredictionLog

    settings = request.getfixturevalue("aws")
    return FirehosePredictionLog(
        settings.capture_stream, settings.data_bucket, settings.predictions_table
    )
