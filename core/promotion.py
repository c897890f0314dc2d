"""Model promotion between environments: export a version with its artifacts, import it into
another environment's registry (hashes checked at both ends), promote it, smoke-test it, and roll
back when the smoke test fails. The workflow runs these steps as separate jobs, each with its own
environment's credentials; `release` chains them where one process can reach both."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from mlops_template.core.artifacts import ArtifactIntegrityError, read_verified, version_key
from mlops_template.core.backend import Backend
from mlops_template.core.ports import ExportSigner
from mlops_template.core.records import (
    ArtifactRef,
    ModelVersion,
    StageEvent,
    utc_now,
    version_label,
)
from mlops_template.core.registry import GateNotPassedError, RegistryError
from mlops_template.core.smoke import (
    DEFAULT_WAIT_SECONDS,
    ApiClient,
    Check,
    SmokeResult,
    example_records,
    smoke_test,
)
from mlops_template.training.files import SCHEMA_FILE
from mlops_template.training.schema import DatasetSchema

RECORD_FILE = "version.json"
SIGNATURE_FILE = "signature.json"


class ExportSignatureError(ArtifactIntegrityError):
    """A bundle is unsigned, or its signature is not from a key this environment trusts."""


class ExportSignature(BaseModel):
    """What `signature.json` holds: an HMAC-SHA-256 over the SHA-256 of version.json's bytes.
    The record carries every artifact's SHA-256, so the signature covers the artifacts too."""

    algorithm: str = "HMAC_SHA_256"
    key: str
    mac: str
    signed_file: str = RECORD_FILE
    signed_at: str


def _record_digest(record_bytes: bytes) -> bytes:
    # KMS MACs messages of up to 4 KB: the record's digest stands for the record.
    return hashlib.sha256(record_bytes).digest()


def verify_bundle(
    backend: Backend, directory: Path, *, verifier: ExportSigner | None = None
) -> tuple[ModelVersion, str]:
    """The bundle's record, and the trusted key that signed it; refused otherwise.

    `verifier`: whose keys decide (default: this environment's). Between clouds the target
    cannot check a key that lives in the source's key service (an AWS KMS HMAC key never leaves
    KMS), so `release` checks the bundle with the source's signer, which it holds anyway."""
    signer_port = verifier or backend.signer
    record_bytes = (directory / RECORD_FILE).read_bytes()
    try:
        signature = ExportSignature.model_validate_json((directory / SIGNATURE_FILE).read_text())
    except FileNotFoundError:
        raise ExportSignatureError(
            f"{directory} has no {SIGNATURE_FILE}: only bundles written by `mlops registry "
            "export` in a trusted environment can be imported; nothing imported"
        ) from None
    except ValueError as exc:
        raise ExportSignatureError(f"{directory}/{SIGNATURE_FILE} is unreadable: {exc}") from None
    signer = signer_port.verify(_record_digest(record_bytes), signature.mac)
    if signer is None:
        trusted = ", ".join(signer_port.trusted()) or "none configured"
        raise ExportSignatureError(
            f"the signature of {directory}/{RECORD_FILE} (key {signature.key}) does not match: "
            "the bundle was changed after export, or exported by an environment this one does "
            f"not trust (trusted keys: {trusted}); nothing imported"
        )
    return ModelVersion.model_validate_json(record_bytes), signer


class ReleaseResult(BaseModel):
    model: str
    source_version: int
    target_version: int
    stage: str
    promoted: StageEvent | None = None
    smoke: SmokeResult | None = None
    rolled_back: StageEvent | None = None
    rollback_refused: str | None = None
    previous_version: int | None = None

    @property
    def succeeded(self) -> bool:
        return self.smoke is not None and self.smoke.passed and self.rolled_back is None

    def stage_outcome(self) -> str:
        """What the release did to the target stage, in one line."""
        stage, version = self.stage, f"v{self.target_version}"
        if self.promoted is None:
            return f"{stage} unchanged: it already served {version}"
        if self.rolled_back is not None:
            return f"{stage} rolled back to {version_label(self.rolled_back.to_version)}"
        if self.rollback_refused is not None:
            return f"{stage} left on {version}, rollback refused: {self.rollback_refused}"
        return (
            f"{stage} promoted from {version_label(self.previous_version)} to {version}, "
            "and the API serves it"
        )


def check_version(backend: Backend, model: str, version: int) -> ModelVersion:
    """The version exists, passed its gate, and every artifact matches its recorded SHA-256."""
    record = backend.registry.get(model, version)
    if not record.gate_passed:
        reasons = "; ".join(record.gate.get("reasons", [])) or "no gate result"
        raise GateNotPassedError(f"{model} v{version} did not pass its gate ({reasons})")
    backend.registry.verify_artifacts(record)
    return record


def export_version(backend: Backend, model: str, version: int, directory: Path) -> ModelVersion:
    record = check_version(backend, model, version)
    directory.mkdir(parents=True, exist_ok=True)
    for name, ref in record.artifacts.items():
        (directory / name).write_bytes(read_verified(backend.artifacts, ref))
    record_bytes = record.model_dump_json(indent=2).encode()
    key, mac = backend.signer.sign(_record_digest(record_bytes))
    (directory / RECORD_FILE).write_bytes(record_bytes)
    signature = ExportSignature(key=key, mac=mac, signed_at=utc_now())
    (directory / SIGNATURE_FILE).write_text(signature.model_dump_json(indent=2))
    return record


def import_version(
    backend: Backend,
    directory: Path,
    *,
    source_environment: str,
    actor: str,
    verifier: ExportSigner | None = None,
) -> ModelVersion:
    """Register an exported version here as a new version (its own number, the same bytes),
    once its signature is from a trusted key and every file matches the signed record.

    Importing the same source version again returns the version it became the first time."""
    source, signer = verify_bundle(backend, directory, verifier=verifier)
    origin = {
        "environment": source_environment,
        "version": source.version,
        "model_sha256": source.model_sha256,
    }
    for existing in backend.registry.versions(source.model):
        if existing.lineage.get("imported_from") == origin:
            return existing
    files: dict[str, bytes] = {}
    for name, ref in source.artifacts.items():
        data = (directory / name).read_bytes()
        if hashlib.sha256(data).hexdigest() != ref.sha256:
            raise ArtifactIntegrityError(f"{name} of {source.model} v{source.version} was altered")
        files[name] = data
    registry = backend.registry
    version = registry.allocate_version(source.model)
    artifacts: dict[str, ArtifactRef] = {}
    for name, data in files.items():
        key = version_key(source.model, version, name)
        digest = backend.artifacts.put_if_absent(key, data)
        artifacts[name] = ArtifactRef(
            key=key, uri=backend.artifacts.uri(key), sha256=digest, size_bytes=len(data)
        )
        read_verified(backend.artifacts, artifacts[name])
    record = source.model_copy(
        update={
            "version": version,
            "artifacts": artifacts,
            "created_by": actor,
            "created_at": utc_now(),
            "lineage": {**source.lineage, "imported_from": origin, "export_signed_by": signer},
        }
    )
    return registry.register(record)


def release(
    source: Backend,
    target: Backend,
    model: str,
    version: int,
    stage: str,
    *,
    source_environment: str,
    client: Callable[[], ApiClient],
    actor: str,
    workdir: Path,
    wait_seconds: float = DEFAULT_WAIT_SECONDS,
) -> ReleaseResult:
    """Export from `source`, import into `target`, promote, smoke-test, roll back on failure.

    Between clouds (source and target backends of different providers) the bundle's signature
    is checked with the source's key service; every artifact's SHA-256 is checked either way."""
    export_version(source, model, version, workdir)
    imported = transfer(source, target, workdir, source_environment=source_environment, actor=actor)
    return promote_and_verify(
        target,
        model,
        imported.version,
        stage,
        client=client,
        actor=actor,
        source_version=version,
        wait_seconds=wait_seconds,
    )


def transfer(
    source: Backend, target: Backend, directory: Path, *, source_environment: str, actor: str
) -> ModelVersion:
    """Import an exported bundle into `target`: within a cloud the target's trusted keys decide;
    between clouds the source's signer does (see verify_bundle)."""
    verifier = source.signer if source.name != target.name else None
    return import_version(
        target, directory, source_environment=source_environment, actor=actor, verifier=verifier
    )


def promote_and_verify(
    backend: Backend,
    model: str,
    version: int,
    stage: str,
    *,
    client: Callable[[], ApiClient],
    actor: str,
    source_version: int | None = None,
    wait_seconds: float = DEFAULT_WAIT_SECONDS,
) -> ReleaseResult:
    """Promote with a conditional write on the stage as read now, then smoke-test the API once
    it serves the version (waiting up to `wait_seconds`); a failed smoke test rolls the stage
    back (recorded in history)."""
    record = check_version(backend, model, version)
    current = backend.registry.current(model, stage)
    result = ReleaseResult(
        model=model,
        source_version=source_version or version,
        target_version=version,
        stage=stage,
        previous_version=current.version if current else None,
    )
    result.promoted = backend.registry.promote(
        model,
        version,
        stage,
        actor=actor,
        reason=f"release of v{result.source_version}",
        expected_version=current.version if current else None,
        expected_revision=None if current else 0,
    )
    schema = DatasetSchema.from_json(
        read_verified(backend.artifacts, record.artifacts[SCHEMA_FILE])
    )
    try:
        result.smoke = smoke_test(
            client(),
            expect_version=version,
            records=example_records(schema),
            classes=list(schema.target.label_values().values()),
            wait_seconds=wait_seconds,
        )
    except Exception as exc:  # an unreachable API fails the smoke test like a wrong answer does
        detail = f"{type(exc).__name__}: {exc}"
        result.smoke = SmokeResult(
            passed=False, checks=[Check(name="API reachable", passed=False, detail=detail)]
        )
    if not result.smoke.passed and result.promoted is not None:
        try:
            result.rolled_back = backend.registry.rollback(
                model, stage, actor=actor, reason="smoke test failed: " + result.smoke.summary()
            )
        except RegistryError as exc:
            result.rollback_refused = str(exc)
    return result


def describe(result: ReleaseResult) -> dict[str, Any]:
    return result.model_dump(mode="json")
