"""Promotion across environments on moto: export, import with hash checks, promote, smoke test,
roll back; and the laptop command that plays dev -> staging -> prod."""

from __future__ import annotations

import hashlib
import json

import pytest
from typer.testing import CliRunner

from mlops_template.core.artifacts import ArtifactIntegrityError
from mlops_template.core.pipeline import LocalPipeline, PipelineSteps
from mlops_template.core.promotion import (
    ExportSignatureError,
    check_version,
    export_version,
    import_version,
    promote_and_verify,
)
from mlops_template.core.registry import GateNotPassedError
from mlops_template.tooling.emulation import (
    EmulatedEnvironment,
    _broken_version,
    create_resources,
    emulated_settings,
)
from mlops_template.training.config import TrainingConfig
from mlops_template.training.datasets import TARGET
from mlops_template.training.files import MODEL_FILE

from .conftest import MODEL


@pytest.fixture
def environments(aws, csv_bytes):
    dev = EmulatedEnvironment("dev", aws)
    staging_settings = emulated_settings(
        aws.data_bucket.replace("-data", "-stg"),
        metrics_namespace=aws.metrics_namespace,
        trusted_export_keys=aws.export_signing_key,  # staging imports what dev signed
    )
    create_resources(staging_settings)
    staging = EmulatedEnvironment("staging", staging_settings)
    PipelineSteps(dev.backend).save_config(TrainingConfig(model_name=MODEL, target=TARGET))
    dev.backend.data.put("incoming/d.csv", csv_bytes)
    result = LocalPipeline(dev.backend).run(MODEL, "incoming/d.csv")
    assert result.version == 1
    return dev, staging


def test_a_version_moves_with_the_same_bytes_and_a_record_of_where_it_came_from(
    environments, tmp_path
):
    dev, staging = environments
    source = export_version(dev.backend, MODEL, 1, tmp_path / "bundle")
    imported = import_version(
        staging.backend, tmp_path / "bundle", source_environment="dev", actor="ci"
    )
    assert imported.model_sha256 == source.model_sha256
    assert imported.lineage["imported_from"] == {
        "environment": "dev",
        "version": 1,
        "model_sha256": source.model_sha256,
    }
    assert imported.artifacts[MODEL_FILE].uri.startswith(
        f"s3://{staging.settings.artifact_bucket}/"
    )
    again = import_version(
        staging.backend, tmp_path / "bundle", source_environment="dev", actor="ci"
    )
    assert again.version == imported.version  # a re-run imports nothing new
    assert check_version(staging.backend, MODEL, imported.version).version == imported.version


def test_an_altered_bundle_is_refused(environments, tmp_path):
    dev, staging = environments
    export_version(dev.backend, MODEL, 1, tmp_path / "bundle")
    (tmp_path / "bundle" / MODEL_FILE).write_bytes(b"swapped")
    with pytest.raises(ArtifactIntegrityError, match="altered"):
        import_version(staging.backend, tmp_path / "bundle", source_environment="dev", actor="ci")
    assert staging.backend.registry.versions(MODEL) == []


def forge(bundle, model_bytes: bytes) -> None:
    """What a hand edit does: swap the model, record its SHA-256, mark the gate passed."""
    (bundle / MODEL_FILE).write_bytes(model_bytes)
    record = json.loads((bundle / "version.json").read_text())
    digest = hashlib.sha256(model_bytes).hexdigest()
    record["artifacts"][MODEL_FILE]["sha256"] = record["model_sha256"] = digest
    record["gate"] = {"passed": True, "reasons": []}
    (bundle / "version.json").write_text(json.dumps(record))


def test_a_hand_edited_bundle_is_refused_though_its_hashes_match(environments, tmp_path):
    dev, staging = environments
    export_version(dev.backend, MODEL, 1, tmp_path / "bundle")
    forge(tmp_path / "bundle", b"another model")
    with pytest.raises(ExportSignatureError, match="changed after export"):
        import_version(staging.backend, tmp_path / "bundle", source_environment="dev", actor="ci")
    (tmp_path / "bundle" / "signature.json").unlink()
    with pytest.raises(ExportSignatureError, match=r"no signature\.json"):
        import_version(staging.backend, tmp_path / "bundle", source_environment="dev", actor="ci")
    assert staging.backend.registry.versions(MODEL) == []


def test_only_the_keys_of_earlier_environments_are_trusted(environments, tmp_path):
    dev, staging = environments
    export_version(dev.backend, MODEL, 1, tmp_path / "forward")
    imported = import_version(
        staging.backend, tmp_path / "forward", source_environment="dev", actor="ci"
    )
    assert imported.lineage["export_signed_by"]  # the key that signed, kept with the version
    # dev does not import from staging: staging's signature means nothing there.
    export_version(staging.backend, MODEL, imported.version, tmp_path / "back")
    with pytest.raises(ExportSignatureError, match="not trust"):
        import_version(dev.backend, tmp_path / "back", source_environment="staging", actor="ci")


def test_only_versions_that_passed_their_gate_and_match_their_hashes_can_leave(environments):
    dev, _ = environments
    record = dev.backend.registry.get(MODEL, 1)
    dev.backend.artifacts.put(record.artifacts[MODEL_FILE].key, b"tampered")
    with pytest.raises(ArtifactIntegrityError):
        check_version(dev.backend, MODEL, 1)
    weak = record.model_copy(
        update={
            "version": dev.backend.registry.allocate_version(MODEL),
            "gate": {"passed": False, "reasons": ["worse than prod"]},
        }
    )
    dev.backend.registry.register(weak)
    with pytest.raises(GateNotPassedError, match="worse than prod"):
        check_version(dev.backend, MODEL, weak.version)


def test_a_passing_smoke_test_keeps_the_promotion(environments, tmp_path):
    dev, staging = environments
    export_version(dev.backend, MODEL, 1, tmp_path / "b")
    imported = import_version(staging.backend, tmp_path / "b", source_environment="dev", actor="ci")
    result = promote_and_verify(
        staging.backend, MODEL, imported.version, "production", client=staging.api, actor="ci"
    )
    assert result.succeeded and result.smoke.passed
    assert staging.backend.registry.current(MODEL, "production").version == imported.version


def test_a_failing_smoke_test_rolls_the_promotion_back(environments, tmp_path):
    dev, staging = environments
    export_version(dev.backend, MODEL, 1, tmp_path / "good")
    good = import_version(staging.backend, tmp_path / "good", source_environment="dev", actor="ci")
    promote_and_verify(
        staging.backend, MODEL, good.version, "production", client=staging.api, actor="ci"
    )
    broken = _broken_version(dev.backend, MODEL, 1)
    export_version(dev.backend, MODEL, broken.version, tmp_path / "bad")
    bad = import_version(staging.backend, tmp_path / "bad", source_environment="dev", actor="ci")
    result = promote_and_verify(
        staging.backend, MODEL, bad.version, "production", client=staging.api, actor="ci"
    )
    assert not result.smoke.passed and not result.succeeded
    assert result.rolled_back is not None
    assert staging.backend.registry.current(MODEL, "production").version == good.version
    moves = [
        (e.action, e.to_version) for e in staging.backend.registry.history(MODEL, "production")
    ]
    assert moves == [
        ("promote", good.version),
        ("promote", bad.version),
        ("rollback", good.version),
    ]


def test_release_from_a_laptop_on_emulated_aws():
    from mlops_template.tooling.cli import app

    result = CliRunner().invoke(app, ["release", "--aws-emulated"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "staging: v1 -> v1 in production: released" in result.output
    assert "prod: v1 -> v1 in production: released" in result.output
    assert "smoke test failed" in result.output and "production rolled back to v1" in result.output
    assert "production serves: dev v1, staging v1, prod v1" in result.output
