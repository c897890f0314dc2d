import hashlib

import pytest

from mlops_template.core.artifacts import ArtifactIntegrityError, read_verified
from mlops_template.core.ports import BlobExists, BlobNotFound
from mlops_template.core.records import ArtifactRef


def test_put_returns_the_sha256_and_get_returns_the_bytes(blobstore):
    digest = blobstore.put("models/a/v1/model.onnx", b"onnx")
    assert digest == hashlib.sha256(b"onnx").hexdigest()
    assert blobstore.get("models/a/v1/model.onnx") == b"onnx"
    assert blobstore.exists("models/a/v1/model.onnx")


def test_put_if_absent_never_replaces_an_object(blobstore):
    key = "models/a/v1/model.onnx"
    assert blobstore.put_if_absent(key, b"first") == hashlib.sha256(b"first").hexdigest()
    with pytest.raises(BlobExists):
        blobstore.put_if_absent(key, b"second")
    assert blobstore.get(key) == b"first"
    assert blobstore.keys("models/a/") == [key]  # no temporary file left behind


def test_missing_keys_raise_blob_not_found(blobstore):
    with pytest.raises(BlobNotFound):
        blobstore.get("nope")
    with pytest.raises(BlobNotFound):
        blobstore.copy("nope", "other")
    assert not blobstore.exists("nope")


def test_size_is_read_without_the_object(blobstore):
    blobstore.put("incoming/big.csv", b"x" * 1234)
    assert blobstore.size("incoming/big.csv") == 1234
    with pytest.raises(BlobNotFound):
        blobstore.size("incoming/none.csv")


def test_list_copy_and_delete(blobstore):
    blobstore.put("incoming/a.csv", b"a")
    blobstore.put("incoming/b.csv", b"b")
    blobstore.put("validated/x.csv", b"x")
    assert blobstore.keys("incoming/") == ["incoming/a.csv", "incoming/b.csv"]
    blobstore.copy("incoming/a.csv", "quarantine/a.csv")
    blobstore.delete("incoming/a.csv")
    assert blobstore.keys("incoming/") == ["incoming/b.csv"]
    assert blobstore.get("quarantine/a.csv") == b"a"


def test_reading_an_artifact_checks_its_hash(blobstore):
    digest = blobstore.put("m/model.onnx", b"good")
    ref = ArtifactRef(key="m/model.onnx", uri=blobstore.uri("m/model.onnx"), sha256=digest)
    assert read_verified(blobstore, ref) == b"good"
    blobstore.put("m/model.onnx", b"tampered")
    with pytest.raises(ArtifactIntegrityError, match="SHA-256"):
        read_verified(blobstore, ref)


def test_keys_cannot_escape_the_bucket(tmp_path):
    from mlops_template.infra.local.blobstore import FileBlobStore

    store = FileBlobStore(tmp_path / "b")
    for key in ("../evil", "/etc/passwd", "a/../../x"):
        with pytest.raises(ValueError, match="invalid object key"):
            store.put(key, b"x")


def test_claim_moves_an_arrival_to_its_own_key(blobstore):
    blobstore.put("incoming/data.csv", b"rows")
    blobstore.claim("incoming/data.csv", "claimed/m/run-1/data.csv")
    assert blobstore.get("claimed/m/run-1/data.csv") == b"rows"
    assert not blobstore.exists("incoming/data.csv")
    with pytest.raises(BlobNotFound):  # a second claimant of the same arrival finds it gone
        blobstore.claim("incoming/data.csv", "claimed/m/run-2/data.csv")


@pytest.mark.parametrize("versioned", [True, False], ids=["versioned", "unversioned"])
def test_a_file_landing_while_s3_claims_the_same_key_stays(aws, versioned):
    """The S3 claim is copy then delete: a write between the two must survive the delete."""
    import boto3

    from mlops_template.infra.aws.s3 import S3BlobStore

    s3 = boto3.client("s3")  # its own client: the hook below must not reach other tests
    bucket = aws.data_bucket  # versioned, as Terraform makes it
    if not versioned:
        bucket = f"{aws.data_bucket}-unversioned"
        s3.create_bucket(Bucket=bucket)
    store = S3BlobStore(bucket, s3=s3)
    store.put("incoming/data.csv", b"first arrival")

    def second_arrival(**_: object) -> None:
        store.put("incoming/data.csv", b"second arrival")

    s3.meta.events.register("after-call.s3.CopyObject", second_arrival)
    store.claim("incoming/data.csv", "claimed/m/run-1/data.csv")
    assert store.get("claimed/m/run-1/data.csv") == b"first arrival"
    assert store.get("incoming/data.csv") == b"second arrival"


CRASHING_WRITE = """
import resource, sys
from mlops_template.infra.local.blobstore import FileBlobStore

store = FileBlobStore(sys.argv[1])
# The kernel kills this process (SIGXFSZ) the moment a write goes past 4 KiB: a crash mid-write.
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
if sys.argv[2] == "copy":
    store.copy("big.bin", "target.bin")
else:
    store.put("target.bin", store.get("big.bin"))
"""


@pytest.mark.parametrize("operation", ["copy", "put"])
def test_a_crash_mid_write_never_leaves_a_torn_object(tmp_path, operation):
    import os
    import subprocess
    import sys

    from mlops_template.infra.local.blobstore import FileBlobStore

    store = FileBlobStore(tmp_path / "bucket")
    whole = os.urandom(64 * 1024)
    store.put("big.bin", whole)
    store.put("target.bin", b"the old object")
    crashed = subprocess.run(
        [sys.executable, "-c", CRASHING_WRITE, str(store.root), operation],
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        check=False,
    )
    assert crashed.returncode != 0, "the write was meant to be cut short"
    assert store.get("target.bin") == b"the old object"
    assert store.keys() == ["big.bin", "target.bin"]  # the torn temporary file is not an object


def test_download_to_writes_the_object_to_a_file(blobstore, tmp_path):
    data = bytes(range(256)) * 40_000  # 10 MB: more than one part of a multipart download
    blobstore.put("incoming/big.csv", data)
    out = tmp_path / "big.csv"
    assert blobstore.download_to("incoming/big.csv", out) == len(data)
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(data).digest()
    with pytest.raises(BlobNotFound):
        blobstore.download_to("incoming/nope.csv", tmp_path / "nope.csv")
