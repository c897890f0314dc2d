"""The contract suites run once per adapter: local (files, SQLite) and AWS (moto)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_template.core.registry import Registry
from mlops_template.infra.local.blobstore import FileBlobStore
from mlops_template.infra.local.predictions import SqlitePredictionLog
from mlops_template.infra.local.registry import SqliteRegistry


@pytest.fixture(params=["sqlite", "dynamodb"])
def registry(request, tmp_path: Path) -> Registry:
    """The registry over its artifact store: files with SQLite, S3 with DynamoDB."""
    if request.param == "sqlite":
        return Registry(SqliteRegistry(tmp_path / "registry.db"), FileBlobStore(tmp_path / "a"))
    from mlops_template.infra.aws.dynamodb import DynamoRegistry
    from mlops_template.infra.aws.s3 import S3BlobStore

    settings = request.getfixturevalue("aws")
    return Registry(DynamoRegistry(settings.registry_table), S3BlobStore(settings.artifact_bucket))


@pytest.fixture(params=["files", "s3"])
def blobstore(request, tmp_path: Path):
    if request.param == "files":
        return FileBlobStore(tmp_path / "bucket")
    from mlops_template.infra.aws.s3 import S3BlobStore

    return S3BlobStore(request.getfixturevalue("aws").data_bucket)


@pytest.fixture(params=["sqlite", "dynamodb"])
def prediction_log(request, tmp_path: Path):
    if request.param == "sqlite":
        return SqlitePredictionLog(tmp_path / "predictions.db")
    from mlops_template.infra.aws.predictions import DynamoPredictionLog

    return DynamoPredictionLog(request.getfixturevalue("aws").predictions_table)
