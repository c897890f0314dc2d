"""The Azure backend on Azurite: the factory wires working adapters, and what the contract suites
cannot see (claim races, large records, awkward ids, SDK imports) holds."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from mlops_template.core.ports import SigningUnavailable
from mlops_template.core.records import PredictionRecord
from mlops_template.core.settings import Settings
from mlops_template.infra import build_backend
from tests.contract.test_registry import MODEL, make_version


@pytest.fixture
def azure_settings(azurite, azure_names) -> Settings:
    """Settings of a fresh Azure environment on Azurite: its containers and tables exist (as
    Terraform would make them)."""
    from mlops_template.infra.azure.clients import blob_service, table_service

    settings = Settings(
        backend="azure",
        azure_storage_connection_string=azurite,
        azure_data_container=azure_names("data"),
        azure_artifact_container=azure_names("artifacts"),
        azure_registry_table=azure_names("registry"),
        azure_predictions_table=azure_names("predictions"),
        export_signing_key="a test secret",  # pragma: allowlist secret
    )
    for container in (settings.azure_data_container, settings.azure_artifact_container):
        blob_service(settings).create_container(container)
    for table in (settings.azure_registry_table, settings.azure_predictions_table):
        table_service(settings).create_table(table)
    return settings


def test_build_backend_gives_working_azure_adapters(azure_settings, caplog):
    backend = build_backend(azure_settings)
    assert backend.name == "azure"
    backend.data.put("incoming/a.csv", b"x,y\n1,2\n")
    assert backend.data.keys("incoming/") == ["incoming/a.csv"]
    assert backend.artifacts.keys() == []  # the data and artifacts containers are apart
    from mlops_template.infra.azure.blobstore import AzureBlobStore

    by_name = AzureBlobStore(
        azure_settings.azure_storage_connection_string, azure_settings.azure_data_container
    )
    assert by_name.get("incoming/a.csv") == b"x,y\n1,2\n"
    version = make_version(backend.registry)
    assert backend.artifacts.uri(version.artifacts["model.onnx"].key).startswith("http://127.0.0.1")
    backend.registry.promote(MODEL, version.version, "production", actor="t")
    assert backend.registry.current(MODEL, "production") == version
    backend.predictions.record(
        [
            PredictionRecord(
                prediction_id="p1",
                model=MODEL,
                version=1,
                stage="production",
                features={"x": 1},
                label="yes",
                probability=0.8,
            )
        ]
    )
    assert backend.predictions.add_feedback("p1", "no", model=MODEL) == "recorded"
    with caplog.at_level(logging.INFO, logger="mlops.metrics"):
        backend.metrics.put("Accuracy", 0.9, unit="Percent", dimensions={"model": MODEL})
    (line,) = [json.loads(r.getMessage()) for r in caplog.records if r.name == "mlops.metrics"]
    assert line == {
        "metric": "Accuracy",
        "value": 0.9,
        "unit": "Percent",
        "dimensions": {"model": MODEL},
    }
    key, mac = backend.signer.sign(b"record")
    assert backend.signer.verify(b"record", mac) == key


def test_without_a_signing_key_exports_are_refused_not_signed_with_a_key_of_its_own(
    azure_settings, tmp_path
):
    settings = azure_settings.model_copy(update={"export_signing_key": "", "home": tmp_path})
    backend = build_backend(settings)
    with pytest.raises(SigningUnavailable, match="MLOPS_EXPORT_SIGNING_KEY"):
        backend.signer.sign(b"record")
    assert list(tmp_path.iterdir()) == []  # no key file: instances share no disk
    assert backend.signer.trusted() == []


def test_without_a_connection_string_the_backend_says_which_setting(tmp_path):
    with pytest.raises(ValueError, match="MLOPS_AZURE_STORAGE_CONNECTION_STRING"):
        build_backend(Settings(backend="azure", home=tmp_path))


def test_a_blob_landing_while_a_claim_copies_the_same_key_stays(azure_container):
    """The claim is copy then delete: a write between the two must survive the delete."""
    from mlops_template.infra.azure.blobstore import AzureBlobStore

    store = AzureBlobStore(azure_container("data"))
    store.put("incoming/data.csv", b"first arrival")
    upload = store._upload

    def upload_then_second_arrival(key: str, *args, **kwargs) -> str:
        digest = upload(key, *args, **kwargs)
        if key.startswith("claimed/"):
            upload("incoming/data.csv", b"second arrival", "text/csv", overwrite=True)
        return digest

    store._upload = upload_then_second_arrival  # type: ignore[method-assign]
    store.claim("incoming/data.csv", "claimed/m/run-1/data.csv")
    assert store.get("claimed/m/run-1/data.csv") == b"first arrival"
    assert store.get("incoming/data.csv") == b"second arrival"


def test_records_larger_than_one_table_property_are_kept_whole(azure_table, azure_container):
    """A string property holds 64 KiB: bigger bodies are split over several properties."""
    from mlops_template.core.registry import Registry
    from mlops_template.infra.azure.blobstore import AzureBlobStore
    from mlops_template.infra.azure.registry import TableRegistry

    registry = Registry(
        TableRegistry(azure_table("registry")), AzureBlobStore(azure_container("a"))
    )
    version = make_version(registry)
    big = version.model_copy(
        update={"version": 2, "config": {"notes": "é" * 100_000}}  # 200 KB as UTF-8
    )
    registry.register(big)
    assert registry.get(MODEL, 2) == big


def test_prediction_ids_with_characters_tables_forbid_in_keys(azure_container, azure_table):
    from mlops_template.infra.azure.predictions import BlobPredictionLog

    log = BlobPredictionLog(azure_container("data"), azure_table("predictions"))
    odd = ["a/b", "c#d", "e?f", "g\\h", "100%"]
    log.record(
        [
            PredictionRecord(
                prediction_id=i,
                model=MODEL,
                version=1,
                stage="production",
                features={},
                label="yes",
                probability=0.5,
            )
            for i in odd
        ]
    )
    assert [log.add_feedback(i, "no", model=MODEL) for i in odd] == ["recorded"] * len(odd)
    # The escaped form is another id: its label is its own and joins no capture.
    assert log.add_feedback("a%2Fb", "yes", model=MODEL) == "recorded"
    assert {r.prediction_id: r.true_label for r in log.recent(MODEL)} == dict.fromkeys(odd, "no")


def test_the_aws_and_local_paths_import_no_azure_sdk():
    code = (
        "import sys; import mlops_template.functions.inference.handler, mlops_template.infra.aws,"
        " mlops_template.infra.local, mlops_template.tooling.cli;"
        "bad = sorted(m for m in sys.modules if m == 'azure' or m.startswith('azure.'));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
