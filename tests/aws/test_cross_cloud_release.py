"""A version moves from AWS (moto) to Azure (Azurite): exported and signed with the source's KMS
key, imported with the same bytes, every SHA-256 checked; a tampered bundle is refused and the
Azure registry stays as it was."""

from __future__ import annotations

import hashlib
import json

import pytest

from mlops_template.core.artifacts import ArtifactIntegrityError
from mlops_template.core.pipeline import LocalPipeline, PipelineSteps
from mlops_template.core.promotion import (
    RECORD_FILE,
    ExportSignatureError,
    export_version,
    import_version,
    transfer,
)
from mlops_template.core.settings import Settings
from mlops_template.infra import build_backend
from mlops_template.tooling.emulation import EmulatedEnvironment
from mlops_template.training.config import TrainingConfig
from mlops_template.training.datasets import TARGET
from mlops_template.training.files import MODEL_FILE

from .conftest import MODEL


@pytest.fixture
def on_aws(aws, csv_bytes):
    dev = EmulatedEnvironment("dev", aws)
    PipelineSteps(dev.backend).save_config(TrainingConfig(model_name=MODEL, target=TARGET))
    dev.backend.data.put("incoming/d.csv", csv_bytes)
    assert LocalPipeline(dev.backend).run(MODEL, "incoming/d.csv").version == 1
    return dev.backend


@pytest.fixture
def on_azure(azurite, azure_names):
    from mlops_template.infra.azure.clients import blob_service, table_service

    settings = Settings(
        backend="azure",
        azure_storage_connection_string=azurite,
        azure_data_container=azure_names("data"),
        azure_artifact_container=azure_names("artifacts"),
        azure_registry_table=azure_names("registry"),
        azure_predictions_table=azure_names("predictions"),
        export_signing_key="the azure environment's own secret",  # pragma: allowlist secret
    )
    for container in (settings.azure_data_container, settings.azure_artifact_container):
        blob_service(settings).create_container(container)
    for table in (settings.azure_registry_table, settings.azure_predictions_table):
        table_service(settings).create_table(table)
    return build_backend(settings)


def test_a_version_moves_from_aws_to_azure_with_the_same_bytes(on_aws, on_azure, tmp_path):
    assert (on_aws.name, on_azure.name) == ("aws", "azure")
    source = export_version(on_aws, MODEL, 1, tmp_path / "bundle")

    imported = transfer(
        on_aws, on_azure, tmp_path / "bundle", source_environment="aws-dev", actor="ci"
    )

    assert imported.model_sha256 == source.model_sha256
    assert imported.lineage["imported_from"] == {
        "environment": "aws-dev",
        "version": 1,
        "model_sha256": source.model_sha256,
    }
    assert imported.lineage["export_signed_by"] in on_aws.signer.trusted()  # the KMS key
    for name, ref in source.artifacts.items():
        on_blob = on_azure.artifacts.get(imported.artifacts[name].key)
        assert hashlib.sha256(on_blob).hexdigest() == ref.sha256
        assert imported.artifacts[name].uri.startswith("http://127.0.0.1")  # Azurite's blob
    assert on_azure.registry.get(MODEL, imported.version) == imported
    # Again: the version it became the first time, nothing new.
    again = transfer(
        on_aws, on_azure, tmp_path / "bundle", source_environment="aws-dev", actor="ci"
    )
    assert again.version == imported.version
    assert len(on_azure.registry.versions(MODEL)) == 1


def test_azure_alone_cannot_vouch_for_a_kms_signature(on_aws, on_azure, tmp_path):
    export_version(on_aws, MODEL, 1, tmp_path / "bundle")
    with pytest.raises(ExportSignatureError, match="does not match"):
        import_version(on_azure, tmp_path / "bundle", source_environment="aws-dev", actor="ci")
    assert on_azure.registry.versions(MODEL) == []


def test_a_tampered_artifact_is_refused_and_azure_is_unchanged(on_aws, on_azure, tmp_path):
    export_version(on_aws, MODEL, 1, tmp_path / "bundle")
    model = tmp_path / "bundle" / MODEL_FILE
    model.write_bytes(model.read_bytes() + b"\0")

    with pytest.raises(ArtifactIntegrityError, match="altered"):
        transfer(on_aws, on_azure, tmp_path / "bundle", source_environment="aws-dev", actor="ci")
    assert on_azure.registry.versions(MODEL) == []
    assert on_azure.artifacts.keys() == []


def test_a_record_rewritten_to_match_a_tampered_artifact_fails_the_signature(
    on_aws, on_azure, tmp_path
):
    export_version(on_aws, MODEL, 1, tmp_path / "bundle")
    model = tmp_path / "bundle" / MODEL_FILE
    model.write_bytes(model.read_bytes() + b"\0")
    record_file = tmp_path / "bundle" / RECORD_FILE
    record = json.loads(record_file.read_text())
    record["artifacts"][MODEL_FILE]["sha256"] = hashlib.sha256(model.read_bytes()).hexdigest()
    record_file.write_text(json.dumps(record, indent=2))

    with pytest.raises(ExportSignatureError):
        transfer(on_aws, on_azure, tmp_path / "bundle", source_environment="aws-dev", actor="ci")
    assert on_azure.registry.versions(MODEL) == []
