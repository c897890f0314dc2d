"""Copies inside the data bucket (quarantine, claims, accepted files) of objects too big for
one CopyObject (5 GB): boto3's managed copy makes them multipart copies. On moto, with the
threshold lowered to 5 MB (S3's smallest part), so an 11 MB object takes the multipart path."""

from __future__ import annotations

import hashlib
import os

import boto3
import pytest
from boto3.s3.transfer import TransferConfig

from mlops_template.core.ports import BlobNotFound
from mlops_template.infra.aws.s3 import S3BlobStore

MB = 1024 * 1024
SMALL_PARTS = TransferConfig(multipart_threshold=5 * MB, multipart_chunksize=5 * MB)


@pytest.fixture
def store(aws):
    return S3BlobStore(aws.data_bucket, kms_key_id=aws.kms_key_id, copy_transfer=SMALL_PARTS)


def _head(aws, key):
    return boto3.client("s3").head_object(Bucket=aws.data_bucket, Key=key)


def _parts(etag: str) -> int:
    """A multipart object's ETag ends in -<parts>; a single-request object's has no dash."""
    tag = etag.strip('"')
    return int(tag.rsplit("-", 1)[1]) if "-" in tag else 1


def test_an_object_over_the_threshold_is_copied_in_parts_with_its_hash_and_encryption(aws, store):
    data = os.urandom(11 * MB)
    digest = store.put("incoming/big.csv", data)
    store.copy("incoming/big.csv", "quarantine/big.csv")
    assert store.get("quarantine/big.csv") == data
    head = _head(aws, "quarantine/big.csv")
    assert _parts(head["ETag"]) == 3  # 5 + 5 + 1 MB: UploadPartCopy, not one CopyObject
    assert head["Metadata"]["sha256"] == digest == hashlib.sha256(data).hexdigest()
    assert head["ServerSideEncryption"] == "aws:kms"
    assert store.exists("incoming/big.csv")  # a copy, not a move


def test_a_big_claim_copies_in_parts_and_removes_the_arrival(aws, store):
    data = os.urandom(11 * MB)
    store.put("incoming/big.csv", data)
    store.claim("incoming/big.csv", "claimed/m/run/big.csv")
    assert store.get("claimed/m/run/big.csv") == data
    assert _parts(_head(aws, "claimed/m/run/big.csv")["ETag"]) == 3
    assert not store.exists("incoming/big.csv")
    with pytest.raises(BlobNotFound):
        store.claim("incoming/big.csv", "claimed/m/run2/big.csv")


def test_an_object_under_the_threshold_is_one_copy(aws, store):
    store.put("incoming/small.csv", b"a,b\n1,2\n")
    store.copy("incoming/small.csv", "validated/small.csv")
    assert _parts(_head(aws, "validated/small.csv")["ETag"]) == 1
    assert store.get("validated/small.csv") == b"a,b\n1,2\n"
