"""The BlobStore port on S3: encrypted writes, SHA-256 recorded by S3 and in metadata."""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from mlops_template.core.ports import BlobExists, BlobNotFound
from mlops_template.infra.aws.clients import client, error_code

_MISSING = {"NoSuchKey", "404", "NotFound"}
# A conditional request lost: the object is not (or no longer) the one the condition named.
_TAKEN = {"PreconditionFailed", "412", "ConditionalRequestConflict"}
# One CopyObject copies at most 5 GB; above this size a copy is a multipart copy (UploadPartCopy
# of these parts, several at once), which S3 takes up to 5 TB. Under it, one CopyObject.
COPY_MULTIPART_BYTES = 1024**3
COPY_PART_BYTES = 256 * 1024**2
COPY_TRANSFER = TransferConfig(
    multipart_threshold=COPY_MULTIPART_BYTES, multipart_chunksize=COPY_PART_BYTES
)


class S3BlobStore:
    def __init__(
        self,
        bucket: str,
        *,
        kms_key_id: str = "",
        s3: Any = None,
        copy_transfer: TransferConfig = COPY_TRANSFER,
    ) -> None:
        if not bucket:
            raise ValueError("no bucket name: set MLOPS_DATA_BUCKET / MLOPS_ARTIFACT_BUCKET")
        self.bucket = bucket
        self._s3 = s3 or client("s3")
        # Ask for KMS encryption on every write (bucket policy denies unencrypted puts anyway).
        self._sse: dict[str, str] = {"ServerSideEncryption": "aws:kms"}
        if kms_key_id:
            self._sse["SSEKMSKeyId"] = kms_key_id
        self._copy_transfer = copy_transfer

    def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> str:
        return self._put(key, data, content_type)

    def _put(self, key: str, data: bytes, content_type: str, **condition: str) -> str:
        digest = hashlib.sha256(data)
        self._s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType=content_type,
            # S3 verifies this checksum on arrival and stores it with the object.
            ChecksumSHA256=base64.b64encode(digest.digest()).decode(),
            Metadata={"sha256": digest.hexdigest()},
            **condition,
            **self._sse,
        )
        return digest.hexdigest()

    def put_if_absent(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> str:
        try:
            # S3 conditional write: refused (412) when the key exists, or (409) while a
            # concurrent conditional write to it is in flight.
            return self._put(key, data, content_type, IfNoneMatch="*")
        except ClientError as exc:
            if error_code(exc) in _TAKEN:
                raise BlobExists(key) from None
            raise

    def get(self, key: str) -> bytes:
        try:
            response = self._s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in _MISSING:
                raise BlobNotFound(key) from None
            raise
        return bytes(response["Body"].read())

    def download_to(self, key: str, path: str | os.PathLike[str]) -> int:
        # download_file streams in parts (ranged GETs), writing each to disk as it arrives.
        try:
            self._s3.download_file(self.bucket, key, os.fspath(path))
        except ClientError as exc:
            if error_code(exc) in _MISSING:
                raise BlobNotFound(key) from None
            raise
        return os.path.getsize(path)

    def size(self, key: str) -> int:
        try:
            head = self._s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in _MISSING:
                raise BlobNotFound(key) from None
            raise
        return int(head["ContentLength"])

    def exists(self, key: str) -> bool:
        try:
            self._s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in _MISSING:
                return False
            raise
        return True

    def keys(self, prefix: str = "") -> list[str]:
        found: list[str] = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            found.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(found)

    def _copy(self, source: dict[str, str], destination: str, **condition: str) -> None:
        """boto3's managed copy: a HEAD of the source, then one CopyObject, or for an object
        over the threshold a multipart copy (the source's metadata, our `sha256` among them,
        carried over; a condition on the source checked by the HEAD and by every part). A
        multipart copy that fails is aborted; the destination appears only when complete."""
        self._s3.copy(
            CopySource=source,
            Bucket=self.bucket,
            Key=destination,
            ExtraArgs={"MetadataDirective": "COPY", **condition, **self._sse},
            Config=self._copy_transfer,
        )

    def copy(self, source: str, destination: str) -> None:
        try:
            self._copy({"Bucket": self.bucket, "Key": source}, destination)
        except ClientError as exc:
            if error_code(exc) in _MISSING:
                raise BlobNotFound(source) from None
            raise

    def claim(self, source: str, destination: str) -> None:
        # Pin one version of the source (its VersionId in a versioned bucket, else its ETag),
        # copy exactly that version, then delete exactly that version: an object written under
        # the same key meanwhile is a newer version and stays.
        try:
            head = self._s3.head_object(Bucket=self.bucket, Key=source)
        except ClientError as exc:
            if error_code(exc) in _MISSING:
                raise BlobNotFound(source) from None
            raise
        etag, version = head["ETag"], head.get("VersionId")
        pinned = {"VersionId": version} if version else {}
        try:
            self._copy(
                {"Bucket": self.bucket, "Key": source, **pinned},
                destination,
                CopySourceIfMatch=etag,
            )
        except ClientError as exc:
            if error_code(exc) in _MISSING | _TAKEN:
                raise BlobNotFound(f"{source} changed while it was being claimed") from None
            raise
        condition = pinned or {"IfMatch": etag}
        try:
            self._s3.delete_object(Bucket=self.bucket, Key=source, **condition)
        except ClientError as exc:
            if error_code(exc) not in _MISSING | _TAKEN:
                raise

    def delete(self, key: str) -> None:
        self._s3.delete_object(Bucket=self.bucket, Key=key)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"
