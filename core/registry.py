"""Registry rules on top of any ModelRegistry adapter: promotion, rollback, and their checks.

Adapters only store; the rules live here once. Every stage move is one conditional write of the
alias plus its history event, so two promotions racing on the same view cannot both win.
"""

from __future__ import annotations

import hashlib

from mlops_template.core.artifacts import ArtifactIntegrityError, version_key
from mlops_template.core.ports import BlobNotFound, BlobStore, ModelRegistry
from mlops_template.core.records import (
    STAGES,
    ModelVersion,
    RunRecord,
    StageAlias,
    StageEvent,
    utc_now,
    version_label,
)


class RegistryError(Exception):
    """Base class: a registry operation was refused. The message says why."""


class VersionNotFound(RegistryError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class VersionExists(RegistryError):
    pass


class RunNotFound(RegistryError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class StaleStageError(RegistryError):
    """The stage moved since the caller read it."""


class NoPreviousVersionError(RegistryError):
    pass


class GateNotPassedError(RegistryError):
    pass


class UnknownStageError(RegistryError, ValueError):
    pass


class ArtifactCheckError(RegistryError, ArtifactIntegrityError):
    """An artifact of a version is missing or does not match its recorded SHA-256."""


class RegistryOutOfStep(RegistryError):
    """The artifact store holds files of a version the registry never issued: the registry was
    reset or restored from an older copy. Nothing is written until it is restored."""


class RegistryUnavailable(RegistryError):
    """The registry's storage cannot be read (a corrupt or missing database)."""


def check_stage(stage: str) -> str:
    if stage not in STAGES:
        raise UnknownStageError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
    return stage


class Registry:
    """`artifacts` is the store the versions' artifacts live in: every stage move checks them."""

    def __init__(self, store: ModelRegistry, artifacts: BlobStore) -> None:
        self.store = store
        self.artifacts = artifacts

    def allocate_version(self, model: str) -> int:
        version = self.store.allocate_version(model)
        existing = self.artifacts.keys(version_key(model, version, ""))
        if existing:
            raise RegistryOutOfStep(
                f"the registry issued {model} v{version}, but the artifact store already holds "
                f"{self.artifacts.uri(existing[0])}: the registry was reset or restored from an "
                "older copy; restore it before training or importing (nothing was overwritten)"
            )
        return version

    def artifact_problems(self, record: ModelVersion) -> list[str]:
        """What is wrong with a version's artifacts (missing, or not the recorded bytes)."""
        problems = []
        for name, ref in sorted(record.artifacts.items()):
            try:
                data = self.artifacts.get(ref.key)
            except BlobNotFound:
                problems.append(f"{name} is missing ({ref.uri})")
                continue
            actual = hashlib.sha256(data).hexdigest()
            if actual != ref.sha256:
                problems.append(
                    f"{name} has SHA-256 {actual[:12]}..., the registry recorded "
                    f"{ref.sha256[:12]}... ({ref.uri})"
                )
        return problems

    def verify_artifacts(self, record: ModelVersion) -> None:
        problems = self.artifact_problems(record)
        if problems:
            raise ArtifactCheckError(
                f"{record.model} v{record.version} cannot be used: {'; '.join(problems)}"
            )

    def register(self, version: ModelVersion) -> ModelVersion:
        return self.store.register(version)

    def get(self, model: str, version: int) -> ModelVersion:
        return self.store.get(model, version)

    def versions(self, model: str) -> list[ModelVersion]:
        return self.store.versions(model)

    def models(self) -> list[str]:
        return self.store.models()

    def aliases(self, model: str) -> dict[str, StageAlias]:
        return self.store.aliases(model)

    def history(self, model: str, stage: str | None = None) -> list[StageEvent]:
        return self.store.history(model, stage)

    def save_run(self, run: RunRecord) -> None:
        self.store.save_run(run)

    def get_run(self, model: str, run_id: str) -> RunRecord:
        return self.store.get_run(model, run_id)

    def runs(
        self, model: str, *, status: str | None = None, since: str | None = None
    ) -> list[RunRecord]:
        """A model's runs, newest first; `since` is an ISO time (runs started at or after it)."""
        return [
            run
            for run in self.store.runs(model)
            if (status is None or run.status == status)
            and (since is None or run.started_at >= since)
        ]

    def alias(self, model: str, stage: str) -> StageAlias | None:
        return self.store.alias(model, check_stage(stage))

    def current(self, model: str, stage: str) -> ModelVersion | None:
        alias = self.alias(model, stage)
        return self.store.get(model, alias.version) if alias else None

    def promote(
        self,
        model: str,
        version: int,
        stage: str,
        *,
        actor: str,
        reason: str = "",
        expected_version: int | None = None,
        expected_revision: int | None = None,
        weight: float | None = None,
        require_gate: bool = True,
    ) -> StageEvent | None:
        """Point `stage` at `version`. Returns None when it already is (idempotent).

        The move is conditional on the alias not having changed since it was read here, or since
        the caller read it: pass `expected_version` (the version you believe is in the stage) or
        `expected_revision` (0 = empty) to fail on a stale view instead of overwriting.
        """
        check_stage(stage)
        candidate = self.store.get(model, version)
        if require_gate and stage == "production" and not candidate.gate_passed:
            reasons = "; ".join(candidate.gate.get("reasons", [])) or "no gate result"
            raise GateNotPassedError(
                f"{model} v{version} did not pass its promotion gate ({reasons})"
            )
        if weight is not None and not 0 < weight < 1:
            raise RegistryError(f"canary weight must be between 0 and 1, got {weight}")
        if stage == "canary" and weight is None:
            raise RegistryError("a canary needs a traffic weight (0 < weight < 1)")
        self.verify_artifacts(candidate)
        current = self.store.alias(model, stage)
        current_version = current.version if current else None
        current_revision = current.revision if current else 0
        if expected_revision is not None and current_revision != expected_revision:
            raise StaleStageError(
                f"{stage} of {model} is at revision {current_revision}, not {expected_revision}: "
                "it moved since you read it"
            )
        if expected_version is not None and current_version != expected_version:
            raise StaleStageError(
                f"{stage} of {model} serves {version_label(current_version)}, "
                f"not v{expected_version}: "
                "it moved since you read it"
            )
        if current_version == version and (current is None or current.weight == weight):
            return None
        revision = current_revision + 1
        previous = list(current.previous) if current else []
        if current_version is not None and current_version != version:
            previous.append(current_version)
        event = StageEvent(
            model=model,
            stage=stage,
            action="promote",
            from_version=current_version,
            to_version=version,
            revision=revision,
            actor=actor,
            reason=reason,
        )
        alias = StageAlias(
            stage=stage,
            version=version,
            revision=revision,
            previous=previous[-20:],
            weight=weight,
            updated_at=event.at,
            updated_by=actor,
        )
        self.store.move_alias(model, stage, alias, expected_revision=current_revision, event=event)
        return event

    def retire_canary(
        self, model: str, *, expected_version: int, actor: str, reason: str = ""
    ) -> StageEvent:
        """Point the canary back at the version production serves (so it gets no traffic of its
        own), conditional on it still serving `expected_version`; recorded as a rollback."""
        canary = self.store.alias(model, "canary")
        production = self.store.alias(model, "production")
        if canary is None or canary.version != expected_version:
            raise StaleStageError(
                f"canary of {model} no longer serves v{expected_version}: it moved since it was "
                "read"
            )
        if production is None:
            raise NoPreviousVersionError(f"{model} has no production version to fall back on")
        self.verify_artifacts(self.store.get(model, production.version))
        event = StageEvent(
            model=model,
            stage="canary",
            action="rollback",
            from_version=canary.version,
            to_version=production.version,
            revision=canary.revision + 1,
            actor=actor,
            reason=reason,
        )
        alias = StageAlias(
            stage="canary",
            version=production.version,
            revision=canary.revision + 1,
            previous=[*canary.previous, canary.version][-20:],
            weight=canary.weight,
            updated_at=event.at,
            updated_by=actor,
        )
        self.store.move_alias(
            model, "canary", alias, expected_revision=canary.revision, event=event
        )
        return event

    def rollback(self, model: str, stage: str, *, actor: str, reason: str = "") -> StageEvent:
        """Point `stage` back at the version it served before the current one."""
        check_stage(stage)
        current = self.store.alias(model, stage)
        if current is None:
            raise NoPreviousVersionError(f"{stage} of {model} has no version to roll back from")
        if not current.previous:
            raise NoPreviousVersionError(
                f"{stage} of {model} has no previous version to roll back to "
                f"(v{current.version} is the first it served)"
            )
        target = current.previous[-1]
        # Fails clearly if the record is gone or its artifacts no longer match it.
        self.verify_artifacts(self.store.get(model, target))
        event = StageEvent(
            model=model,
            stage=stage,
            action="rollback",
            from_version=current.version,
            to_version=target,
            revision=current.revision + 1,
            actor=actor,
            reason=reason or "rollback",
        )
        alias = StageAlias(
            stage=stage,
            version=target,
            revision=current.revision + 1,
            previous=current.previous[:-1],
            weight=current.weight,
            updated_at=utc_now(),
            updated_by=actor,
        )
        self.store.move_alias(model, stage, alias, expected_revision=current.revision, event=event)
        return event
