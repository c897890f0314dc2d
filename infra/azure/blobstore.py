"""The BlobStore port on an Azure Blob Storage container.

A Put Blob (or the Put Block List that commits a large upload) replaces a blob in one step, so
readers see the old object or the whole new one. Conditions ride on ETags: `overwrite=False`
sends If-None-Match: *, and a claim reads one version (its ETag), writes exactly those bytes to
the destination, then deletes the source If-Match that ETag, so a blob written under the same
key meanwhile stays for its own run.
"""

from __future__ import annotations

import contextlib
import hashlib
import os

from azure.core import MatchConditions
from azure.core.exceptions import (
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob import (
    BlobServiceClient,
    ContainerClient,
    ContentSettings,
    StorageStreamDownloader,
)

from mlops_template.core.ports import BlobExists, BlobNotFound


class AzureBlobStore:
    """`AzureBlobStore(container_client)` or `AzureBlobStore(connection_string, "container")`."""

    def __init__(self, container: ContainerClient | str, name: str = "") -> None:
        if isinstance(container, str):
            if not name:
                raise ValueError("no container name: set MLOPS_AZURE_*_CONTAINER")
            container = BlobServiceClient.from_connection_string(container).get_container_client(
                name
            )
        self._container = container

    def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> str:
        return self._upload(key, data, content_type, overwrite=True)

    def put_if_absent(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> str:
        try:
            return self._upload(key, data, content_type, overwrite=False)
        except ResourceExistsError:
            raise BlobExists(key) from None

    def _upload(self, key: str, data: bytes, content_type: str, *, overwrite: bool) -> str:
        digest = hashlib.sha256(data).hexdigest()
        self._container.upload_blob(
            key,
            data,
            overwrite=overwrite,
            content_settings=ContentSettings(content_type=content_type),
            metadata={"sha256": digest},
        )
        return digest

    def _download(self, key: str) -> StorageStreamDownloader[bytes]:
        try:
            return self._container.download_blob(key)
        except ResourceNotFoundError:
            raise BlobNotFound(key) from None

    def get(self, key: str) -> bytes:
        return self._download(key).readall()

    def download_to(self, key: str, path: str | os.PathLike[str]) -> int:
        downloader = self._download(key)
        with open(path, "wb") as out:
            return int(downloader.readinto(out))  # chunk by chunk, not the whole blob

    def size(self, key: str) -> int:
        try:
            return int(self._container.get_blob_client(key).get_blob_properties().size)
        except ResourceNotFoundError:
            raise BlobNotFound(key) from None

    def exists(self, key: str) -> bool:
        return bool(self._container.get_blob_client(key).exists())

    def keys(self, prefix: str = "") -> list[str]:
        return sorted(self._container.list_blob_names(name_starts_with=prefix or None))

    def copy(self, source: str, destination: str) -> None:
        self._copy(source, destination)

    def _copy(self, source: str, destination: str) -> str:
        """Write the bytes of one version of `source` to `destination` in one upload (the
        destination is replaced whole, never torn); returns the ETag of the version copied. A
        download in several ranges pins them all to the first one's ETag: one version."""
        downloaded = self._download(source)
        properties = downloaded.properties
        data = downloaded.readall()
        content_type = properties.content_settings.content_type or "application/octet-stream"
        self._upload(destination, data, content_type, overwrite=True)
        return str(properties.etag)

    def claim(self, source: str, destination: str) -> None:
        etag = self._copy(source, destination)
        # Gone already, or a newer arrival under that key: that one stays for its own run.
        with contextlib.suppress(ResourceNotFoundError, ResourceModifiedError):
            self._container.delete_blob(
                source, etag=etag, match_condition=MatchConditions.IfNotModified
            )

    def delete(self, key: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            self._container.delete_blob(key)

    def uri(self, key: str) -> str:
        if not key:  # the container's own prefix, as s3://bucket/ is the bucket's
            return f"{str(self._container.url).rstrip('/')}/"
        return str(self._container.get_blob_client(key).url)
