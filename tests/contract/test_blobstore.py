import hashlib

import pytest

from infra.artifacts import ArtifactIntegrityError, read_verified
from infra.ports import BlobExists, BlobNotFound
from infra.records import ArtifactRef


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
    from infra.local.blobstore import FileBlobStore

    store = FileBlobStore(tmp_path / "b")
    for key in ("../evil", "/etc/passwd", "a/../../x"):
        with pytest.raises(ValueError, match="invalid object key"):
            store.put(key, b"x")
