"""The contract suites run once per adapter."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.local.blobstore import FileBlobStore
from infra.local.registry import SqliteRegistry
from infra.registry import Registry


@pytest.fixture(params=["sqlite"])
def registry(request, tmp_path: Path) -> Registry:
    return Registry(SqliteRegistry(tmp_path / "registry.db"))


@pytest.fixture(params=["files"])
def blobstore(request, tmp_path: Path):
    return FileBlobStore(tmp_path / "bucket")
