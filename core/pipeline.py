"""The training pipeline's steps: validate -> train -> evaluate -> (gate) -> register -> promote.

Each step takes and returns JSON-shaped data, exactly what the Step Functions definition passes
between its states, so the Lambda handlers are one-line calls into this module and the local
runner (`LocalPipeline`) plays the same states in order.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import shlex
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import cache, partial
from importlib.resources import files
from typing import Any, Literal

from pydantic import BaseModel, Field

from mlops_template.core.artifacts import (
    INCOMING_PREFIX,
    ArtifactIntegrityError,
    claimed_key,
    config_history_key,
    config_history_prefix,
    config_key,
    latest_dataset_key,
    pending_key,
    quarantine_key,
    read_verified,
    report_key,
    run_key,
    safe_run_id,
    schema_key,
    validated_key,
    version_key,
    versions_prefix,
)
from mlops_template.core.backend import Backend
from mlops_template.core.ports import BlobExists, BlobNotFound, TrainingLauncher
from mlops_template.core.records import (
    ArtifactRef,
    ConfigChange,
    ModelVersion,
    RunRecord,
    RunStatus,
    TrainingJob,
)
from mlops_template.core.registry import RunNotFound, VersionNotFound
from mlops_template.training.config import ModelName, TrainingConfig, config_changes, parse_config
from mlops_template.training.files import (
    ARTIFACT_FILES,
    HOLDOUT_FILE,
    MANIFEST_FILE,
    MODEL_FILE,
    SCHEMA_FILE,
)
from mlops_template.training.gate import GateResult, evaluate_gate
from mlops_template.training.provenance import code_version
from mlops_template.training.schema import DatasetSchema, SchemaError, infer_schema
from mlops_template.training.spreadsheet import read_spreadsheet_csv
from mlops_template.training.train import RunManifest, TrainingRun, train
from mlops_template.training.validation import (
    ValidationReport,
    coerce_frame,
    header_too_wide,
    read_csv_bytes,
    validate_csv,
)

log = logging.getLogger(__name__)


def schema_hint(model: str, data: str, target: str | None) -> str:
    """The command that stores a model's data contract (without --save it only prints it)."""
    column = shlex.quote(target) if target else "TARGET_COLUMN"
    return (
        f"mlops schema infer {shlex.quote(data)} --target {column} --save "
        f"--model {shlex.quote(model)}"
    )


class DataValidationError(Exception):
    """The data file broke the contract; it was moved to quarantine with a report."""


class TrainingJobFailed(Exception):
    """The SageMaker job failed, stopped, or left no usable output."""


def _read_model_archive(archive: bytes) -> dict[str, bytes]:
    """The run files from model.tar.gz, read in memory: nothing is extracted to disk."""
    import tarfile

    wanted = {*ARTIFACT_FILES, MANIFEST_FILE}
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for member in tar.getmembers():
            name = member.name.rsplit("/", 1)[-1]
            if member.isfile() and name in wanted:
                handle = tar.extractfile(member)
                if handle is not None:
                    files[name] = handle.read()
    missing = wanted - set(files)
    if missing:
        raise TrainingJobFailed(f"model archive lacks {sorted(missing)}")
    return files


class Dataset(BaseModel):
    key: str
    uri: str
    sha256: str
    rows: int


class ValidateOutput(BaseModel):
    dataset: Dataset
    warnings: list[str] = Field(default_factory=list)
    report_key: str


class RunOutput(BaseModel):
    run_id: str
    manifest_key: str
    artifacts: dict[str, ArtifactRef]
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    parity_error: float
    model_sha256: str


class EvaluateOutput(BaseModel):
    gate: GateResult
    candidate_metrics: dict[str, float]
    production_metrics: dict[str, float] | None = None


class TrainOutput(BaseModel):
    """Where training ran: in this process (`run` is ready) or in a SageMaker job (`job`)."""

    mode: Literal["lambda", "sagemaker"]
    run: RunOutput | None = None
    job: TrainingJob | None = None


class RegisterOutput(BaseModel):
    version: int
    promoted_to: str | None = None


class PipelineState(BaseModel):
    """The Step Functions execution state: each task adds its output under its own key."""

    model: ModelName
    key: str
    run_id: str
    reason: str = ""
    validation: ValidateOutput | None = None
    training: TrainOutput | None = None
    evaluation: EvaluateOutput | None = None
    registered: RegisterOutput | None = None

    def need(self, *fields: str) -> None:
        missing = [f for f in fields if getattr(self, f) is None]
        if missing:
            raise ValueError(f"pipeline state has no {', '.join(missing)} yet")

    @property
    def run(self) -> RunOutput:
        if self.training is None or self.training.run is None:
            raise ValueError("pipeline state has no finished training run yet")
        return self.training.run


class PipelineSteps:
    """The steps, bound to a backend. Each returns a pydantic model: its dump is the state."""

    # How old an unfinished registration must be before another one may delete its files: far
    # longer than any registration takes (the register function times out after 5 minutes).
    ABANDONED_AFTER = timedelta(hours=1)

    def __init__(self, backend: Backend, *, abandoned_after: timedelta = ABANDONED_AFTER) -> None:
        self.backend = backend
        self.abandoned_after = abandoned_after

    # -- contract and config -------------------------------------------------------------
    def load_config(self, model: str, override: dict[str, Any] | None = None) -> TrainingConfig:
        if override:
            return parse_config({**override, "model_name": model}, source="pipeline input config")
        return self.stored_config(model) or parse_config({"model_name": model})

    def stored_config(self, model: str) -> TrainingConfig | None:
        """The config every run of the model uses (retrains too), or None before the first."""
        try:
            stored = json.loads(self.backend.data.get(config_key(model)))
        except BlobNotFound:
            return None
        return parse_config({**stored, "model_name": model}, source=config_key(model))

    def save_config(self, config: TrainingConfig, *, actor: str = "unknown") -> list[str]:
        """Store the model's config and keep a record of the change under configs/<model>/
        history/. Returns what changed ("path: old -> new"); nothing is written when nothing did."""
        stored = self.stored_config(config.model_name)
        changes = config_changes(stored, config) if stored else ["first stored"]
        if not changes:
            return []
        change = ConfigChange(by=actor, changes=changes, config=config.model_dump(mode="json"))
        store = self.backend.data
        store.put(
            config_history_key(config.model_name, change.at),
            change.model_dump_json(indent=2).encode(),
            content_type="application/json",
        )
        store.put(
            config_key(config.model_name),
            config.model_dump_json(indent=2).encode(),
            content_type="application/json",
        )
        return changes

    def config_history(self, model: str) -> list[ConfigChange]:
        store = self.backend.data
        return [
            ConfigChange.model_validate_json(store.get(key))
            for key in store.keys(config_history_prefix(model))
        ]

    def load_schema(self, model: str) -> DatasetSchema | None:
        try:
            return DatasetSchema.from_json(self.backend.data.get(schema_key(model)))
        except BlobNotFound:
            return None

    def save_schema(self, model: str, schema: DatasetSchema) -> None:
        self.backend.data.put(
            schema_key(model), schema.to_json().encode(), content_type="application/json"
        )

    def _contract_for(self, model: str, data: bytes, config: TrainingConfig) -> DatasetSchema:
        schema = self.load_schema(model)
        if schema is not None:
            return schema
        # First data for this model: the contract is inferred from it, then enforced on all data.
        if not config.target:
            raise SchemaError(
                f"no schema for model {model!r} yet: set `target` in its config or run "
                f"`{schema_hint(model, 'FILE.csv', None)}`"
            )
        too_wide = header_too_wide(data, config.validation.max_columns)
        if too_wide:
            raise SchemaError(too_wide)
        import pandas as pd

        frame = pd.read_csv(io.BytesIO(data))
        schema = infer_schema(frame, config.target, task=config.task)
        self.save_schema(model, schema)
        return schema

    # -- steps ---------------------------------------------------------------------------
    def validate(
        self,
        model: str,
        key: str,
        config: TrainingConfig | None = None,
        *,
        run_id: str | None = None,
        actor: str = "pipeline",
    ) -> ValidateOutput:
        """Check a data file. Valid: stored under validated/ (content-addressed). Invalid: stored
        in quarantine/ with its report, then DataValidationError. Nothing is dropped silently.

        A file under incoming/ is first claimed: moved to a key of this run's own, so a second
        file arriving under the same name cannot be swapped in. What is stored is the very bytes
        that were checked, never a second read of a key."""
        config = config or self.load_config(model)
        store = self.backend.data
        source = key
        if run_id:  # a pipeline run (not `mlops validate`): its record starts here
            self.record_run(
                RunRecord(
                    model=model,
                    run_id=run_id,
                    source=store.uri(key),
                    actor=actor,
                    config=config.model_dump(mode="json"),
                    code_version=code_version(),
                )
            )
        claimed = None
        if key.startswith(INCOMING_PREFIX):
            claimed = claimed_key(model, safe_run_id(run_id or uuid.uuid4().hex), key)
            if not store.exists(claimed):  # a retried step finds its claim already made
                store.claim(key, claimed)
            key = claimed
        data = store.get(key)
        try:
            schema = self._contract_for(model, data, config)
            report, _ = validate_csv(data, schema, config.validation, source=store.uri(source))
        except SchemaError as exc:
            report = _unusable_report(store.uri(source), data, str(exc))
        except Exception as exc:  # an unreadable first file cannot even yield a schema
            report = _unusable_report(store.uri(source), data, f"cannot read the file: {exc}")
        if not report.passed:
            target = quarantine_key(model, source)
            store.put(
                report_key(target),
                report.model_dump_json(indent=2).encode(),
                content_type="application/json",
            )
            store.put(target, data)
            if claimed:
                store.delete(claimed)
            message = f"{report.summary()} (quarantined as {store.uri(target)})"
            if run_id:  # the source is the record's own field: the reason is the verdict
                verdict = message.removeprefix(f"{report.source}: ")
                self.end_run(model, run_id, "rejected_data", verdict, data_sha256=report.sha256)
            raise DataValidationError(message)
        target = validated_key(model, report.sha256)
        store.put(
            report_key(target),
            report.model_dump_json(indent=2).encode(),
            content_type="application/json",
        )
        if target != key:
            # Content-addressed: the same bytes validated again are already there; never rewrite.
            with contextlib.suppress(BlobExists):
                store.put_if_absent(target, data, content_type="text/csv")
        dataset = Dataset(key=target, uri=store.uri(target), sha256=report.sha256, rows=report.rows)
        store.put(
            latest_dataset_key(model),
            dataset.model_dump_json().encode(),
            content_type="application/json",
        )
        if claimed:  # last: until here a retried step still finds the file it claimed
            store.delete(claimed)
        if run_id:
            self.update_run(model, run_id, data_sha256=report.sha256, rows={"file": report.rows})
        return ValidateOutput(
            dataset=dataset,
            warnings=[i.message for i in report.warnings],
            report_key=report_key(target),
        )

    def latest_dataset(self, model: str) -> Dataset | None:
        """The newest accepted data file of a model: what alarm-driven retraining uses."""
        try:
            return Dataset.model_validate_json(self.backend.data.get(latest_dataset_key(model)))
        except BlobNotFound:
            return None

    def train(
        self, model: str, dataset: Dataset, run_id: str, config: TrainingConfig | None = None
    ) -> RunOutput:
        config = config or self.load_config(model)
        schema = self.load_schema(model)
        if schema is None:
            raise SchemaError(f"no schema for model {model!r}: validate a data file first")
        frame = coerce_frame(
            read_csv_bytes(self.backend.data.get(dataset.key)), schema, with_target=True
        )
        run = train(frame, schema, config, data_sha256=dataset.sha256)
        return self.upload_run(model, safe_run_id(run_id), run)

    def upload_run(self, model: str, run_id: str, run: TrainingRun) -> RunOutput:
        return self._upload(model, run_id, run.artifact_bytes(), run.manifest)

    def _upload(
        self, model: str, run_id: str, files: dict[str, bytes], manifest: RunManifest
    ) -> RunOutput:
        store = self.backend.artifacts
        artifacts: dict[str, ArtifactRef] = {}
        for name in ARTIFACT_FILES:
            key = run_key(model, run_id, name)
            digest = store.put(key, files[name])
            if manifest.artifacts and manifest.artifacts.get(name) != digest:
                raise ArtifactIntegrityError(
                    f"{name} of run {run_id} does not match the SHA-256 in its manifest"
                )
            artifacts[name] = ArtifactRef(
                key=key, uri=store.uri(key), sha256=digest, size_bytes=len(files[name])
            )
        manifest_key = run_key(model, run_id, MANIFEST_FILE)
        store.put(
            manifest_key,
            manifest.model_dump_json(indent=2).encode(),
            content_type="application/json",
        )
        return run_output(run_id, manifest_key, manifest, artifacts)

    def start_training(
        self,
        launcher: TrainingLauncher,
        model: str,
        dataset: Dataset,
        run_id: str,
        config: TrainingConfig | None = None,
    ) -> TrainingJob:
        """Hand training to a SageMaker job running `training.sagemaker_entry` on the same data."""
        config = config or self.load_config(model)
        return launcher.start(
            model=model,
            run_id=safe_run_id(run_id),
            dataset_uri=dataset.uri,
            schema_uri=self.backend.data.uri(schema_key(model)),
            config_json=config.model_dump_json(),
        )

    def collect_training(self, model: str, run_id: str, job: TrainingJob) -> RunOutput:
        """Turn a finished job's model.tar.gz into a run, exactly like an in-process run."""
        if job.status != "Completed" or not job.model_artifacts:
            raise TrainingJobFailed(
                f"training job {job.name} ended {job.status}: {job.failure_reason or 'no output'}"
            )
        prefix = self.backend.artifacts.uri("")
        if not job.model_artifacts.startswith(prefix):
            raise TrainingJobFailed(f"{job.model_artifacts} is outside the artifact store {prefix}")
        try:
            archive = self.backend.artifacts.get(job.model_artifacts.removeprefix(prefix))
        except BlobNotFound:
            raise TrainingJobFailed(
                f"training job {job.name} reported {job.status} but wrote no {job.model_artifacts}"
            ) from None
        files = _read_model_archive(archive)
        manifest = RunManifest.model_validate_json(files.pop(MANIFEST_FILE))
        return self._upload(model, safe_run_id(run_id), files, manifest)

    def evaluate(
        self, model: str, run: RunOutput, config: TrainingConfig | None = None
    ) -> EvaluateOutput:
        """Score the candidate and the production model on the candidate's held-out data, with
        the ONNX artifacts that would be served, and apply the promotion gate."""
        from mlops_template.training.evaluate import model_metrics
        from mlops_template.training.onnx_model import load_onnx_model

        config = config or self.load_config(model)
        store = self.backend.artifacts
        schema = DatasetSchema.from_json(read_verified(store, run.artifacts[SCHEMA_FILE]))
        holdout = read_spreadsheet_csv(
            read_verified(store, run.artifacts[HOLDOUT_FILE]), dtype={schema.target.name: str}
        )
        frame = coerce_frame(holdout, schema, with_target=True)
        y_true = frame[schema.target.name].tolist()
        candidate_model = load_onnx_model(read_verified(store, run.artifacts[MODEL_FILE]), schema)
        candidate = model_metrics(y_true, candidate_model.outputs_frame(frame), schema.target)
        production_metrics = None
        production = self.backend.registry.current(model, "production")
        if production is not None and production.schema_fingerprint == schema.fingerprint():
            prod_schema = DatasetSchema.from_json(
                read_verified(store, production.artifacts[SCHEMA_FILE])
            )
            prod_model = load_onnx_model(
                read_verified(store, production.artifacts[MODEL_FILE]), prod_schema
            )
            production_metrics = model_metrics(
                y_true, prod_model.outputs_frame(frame), schema.target
            )
        gate = evaluate_gate(
            config.gate,
            candidate,
            run.baseline_metrics,
            production_metrics,
            production_version=production.version if production else None,
            parity_error=run.parity_error,
            task=schema.target.task,
        )
        manifest = RunManifest.model_validate_json(store.get(run.manifest_key))
        learned = {
            "config": manifest.config,
            "data_sha256": manifest.data_sha256,
            "rows": {"train": manifest.rows_train, "test": manifest.rows_test},
            "code_version": manifest.code_version,
            "metrics": candidate,
            "baseline_metrics": run.baseline_metrics,
        }
        if gate.passed:
            self.update_run(model, run.run_id, **learned)
        else:
            self.end_run(
                model,
                run.run_id,
                "gate_failed",
                "; ".join(gate.reasons),
                artifacts=run.artifacts,
                **learned,
            )
        return EvaluateOutput(
            gate=gate, candidate_metrics=candidate, production_metrics=production_metrics
        )

    def register(
        self, model: str, run: RunOutput, gate: GateResult, dataset: Dataset, *, actor: str
    ) -> ModelVersion:
        """Copy the run's artifacts under models/<model>/v<N>/, check them, then record v<N>.

        The record is written last: a crash before it leaves only unreferenced files, never a
        version that points at a missing artifact. Those files carry a pending marker; a failed
        attempt deletes them at once, and those of a killed one are deleted by a later
        registration once they are older than `abandoned_after`. Numbers are not reused."""
        store = self.backend.artifacts
        registry = self.backend.registry
        self.discard_abandoned_versions(model)
        manifest = RunManifest.model_validate_json(store.get(run.manifest_key))
        version = registry.allocate_version(model)
        pending = PendingVersion(run_id=run.run_id, actor=actor, allocated_at=datetime.now(UTC))
        store.put(
            pending_key(model, version),
            pending.model_dump_json().encode(),
            content_type="application/json",
        )
        try:
            registered = registry.register(
                self._version_record(model, version, run, gate, dataset, manifest, actor=actor)
            )
        except Exception:
            self._discard_unregistered(model, version)
            raise
        store.delete(pending_key(model, version))
        return registered

    def register_candidate(
        self, state: PipelineState, *, actor: str, promote_to: str | None
    ) -> RegisterOutput:
        """The Register state: record a candidate whose gate passed as the next version, then
        promote it to `promote_to` when set (staging in dev: MLOPS_AUTO_PROMOTE_STAGE)."""
        state.need("validation", "evaluation")
        assert state.validation is not None and state.evaluation is not None
        if not state.evaluation.gate.passed:
            raise ValueError("refusing to register a candidate that failed its gate")
        version = self.register(
            state.model, state.run, state.evaluation.gate, state.validation.dataset, actor=actor
        )
        if promote_to:
            self.backend.registry.promote(
                state.model,
                version.version,
                promote_to,
                actor=actor,
                reason=f"auto-promotion after run {state.run_id}",
            )
        promoted = f"promoted to {promote_to}" if promote_to else ""
        self.end_run(
            state.model,
            state.run_id,
            "registered",
            promoted,
            artifacts=version.artifacts,
            version=version.version,
        )
        return RegisterOutput(version=version.version, promoted_to=promote_to)

    # -- run records: every run, whatever became of it -------------------------------
    def record_run(self, run: RunRecord) -> None:
        """Start a run's record (a retried first step keeps the start it recorded)."""
        if self.run_record(run.model, run.run_id) is None:
            self.backend.registry.save_run(run)

    def run_record(self, model: str, run_id: str) -> RunRecord | None:
        try:
            return self.backend.registry.get_run(model, run_id)
        except RunNotFound:
            return None

    def update_run(self, model: str, run_id: str, **learned: Any) -> None:
        """Add what a step learned to its run's record."""
        run = self.run_record(model, run_id) or RunRecord(model=model, run_id=run_id)
        self.backend.registry.save_run(run.model_copy(update=learned))

    def end_run(
        self,
        model: str,
        run_id: str,
        status: RunStatus,
        reason: str = "",
        *,
        artifacts: Mapping[str, ArtifactRef] | None = None,
        **learned: Any,
    ) -> None:
        """Close a run's record, then show it to the backend's trackers (MLflow) with its model
        file when `artifacts` (the run's or its version's) has one."""
        run = self.run_record(model, run_id) or RunRecord(model=model, run_id=run_id)
        ended = run.ended(status, reason, **learned)
        self.backend.registry.save_run(ended)
        self._track(ended, artifacts or {})

    def _track(self, run: RunRecord, artifacts: Mapping[str, ArtifactRef]) -> None:
        # The registry's record (saved before this) is the record; a tracker only mirrors it. A
        # tracker that fails (a tracking server down, a bad URI) is a warning, never a failed run.
        if not self.backend.trackers:
            return
        files: dict[str, bytes] = {}
        if MODEL_FILE in artifacts:
            try:
                files[MODEL_FILE] = read_verified(self.backend.artifacts, artifacts[MODEL_FILE])
            except Exception as exc:
                log.warning(
                    "run %s of %s is tracked without its model: %s", run.run_id, run.model, exc
                )
        for tracker in self.backend.trackers:
            try:
                tracker.run_ended(run, files)
            except Exception as exc:
                log.warning(
                    "run %s of %s was not logged to %s: %s: %s",
                    run.run_id,
                    run.model,
                    type(tracker).__name__,
                    type(exc).__name__,
                    exc,
                )

    def fail_run(self, model: str, run_id: str, error: Exception) -> None:
        """What the state machine's failure state does on AWS: a run that stopped on an error
        says so, unless a step already ended it (rejected data)."""
        run = self.run_record(model, run_id)
        if run is None or run.status == "running":
            self.end_run(model, run_id, "error", f"{type(error).__name__}: {error}"[:500])

    def _version_record(
        self,
        model: str,
        version: int,
        run: RunOutput,
        gate: GateResult,
        dataset: Dataset,
        manifest: RunManifest,
        *,
        actor: str,
    ) -> ModelVersion:
        store = self.backend.artifacts
        artifacts: dict[str, ArtifactRef] = {}
        for name, ref in run.artifacts.items():
            key = version_key(model, version, name)
            # Written from the verified bytes, never over an existing version's file.
            store.put_if_absent(key, read_verified(store, ref))
            copied = ArtifactRef(
                key=key, uri=store.uri(key), sha256=ref.sha256, size_bytes=ref.size_bytes
            )
            read_verified(store, copied)
            artifacts[name] = copied
        return ModelVersion(
            model=model,
            version=version,
            created_by=actor,
            run_id=run.run_id,
            source=dataset.uri,
            data_sha256=manifest.data_sha256,
            model_sha256=manifest.model_sha256,
            code_version=manifest.code_version,
            schema_fingerprint=DatasetSchema.from_json(
                read_verified(store, artifacts[SCHEMA_FILE])
            ).fingerprint(),
            metrics=manifest.metrics,
            baseline_metrics=manifest.baseline_metrics,
            gate=gate.model_dump(),
            config=manifest.config,
            library_versions=manifest.library_versions,
            timings=manifest.timings,
            artifacts=artifacts,
        )

    def discard_abandoned_versions(self, model: str) -> list[int]:
        """Delete the files of versions whose registration died (a pending marker older than
        `abandoned_after` and no record); returns their numbers."""
        store = self.backend.artifacts
        cutoff = datetime.now(UTC) - self.abandoned_after
        discarded = []
        for key in store.keys(versions_prefix(model)):
            version = _pending_version(model, key)
            if version is None:
                continue
            try:
                pending = PendingVersion.model_validate_json(store.get(key))
            except BlobNotFound:  # another registration discarded it meanwhile
                continue
            if pending.allocated_at <= cutoff and self._discard_unregistered(model, version):
                discarded.append(version)
        return discarded

    def _discard_unregistered(self, model: str, version: int) -> bool:
        """Delete a version's files unless it has a record (a write that failed may still have
        landed); the marker goes last, so an interrupted discard is picked up again."""
        store = self.backend.artifacts
        try:
            self.backend.registry.get(model, version)
        except VersionNotFound:
            marker = pending_key(model, version)
            for key in store.keys(version_key(model, version, "")):
                if key != marker:
                    store.delete(key)
            store.delete(marker)
            return True
        store.delete(pending_key(model, version))
        return False


class PendingVersion(BaseModel):
    """The pending marker: which run took a version number, and when."""

    run_id: str
    actor: str
    allocated_at: datetime


def _pending_version(model: str, key: str) -> int | None:
    """The version number if `key` is a pending marker of `model`."""
    folder = key.removeprefix(versions_prefix(model)).split("/", 1)[0]
    if not folder.removeprefix("v").isdigit():
        return None
    version = int(folder.removeprefix("v"))
    return version if pending_key(model, version) == key else None


def run_output(
    run_id: str, manifest_key: str, manifest: RunManifest, artifacts: dict[str, ArtifactRef]
) -> RunOutput:
    missing = [name for name in ARTIFACT_FILES if name not in artifacts]
    if missing:
        raise ValueError(f"training run {run_id} is missing artifacts: {missing}")
    return RunOutput(
        run_id=run_id,
        manifest_key=manifest_key,
        artifacts=artifacts,
        metrics=manifest.metrics,
        baseline_metrics=manifest.baseline_metrics,
        parity_error=manifest.parity_error,
        model_sha256=manifest.model_sha256,
    )


def _unusable_report(source: str, data: bytes, message: str) -> ValidationReport:
    import hashlib

    from mlops_template.training.validation import Issue

    return ValidationReport(
        source=source,
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        passed=False,
        issues=[Issue(check="unusable", severity="error", message=message)],
    )


# -- the local runner: the Step Functions definition, played in-process -------------------


class StepRecord(BaseModel):
    name: str
    status: Literal["succeeded", "failed", "skipped"]
    seconds: float
    detail: str = ""


class Outcome(BaseModel):
    """How a pipeline run (or a sweep) ended: what the CLI prints and its exit code reads."""

    status: Literal["registered", "rejected", "failed"] = "failed"
    version: int | None = None
    promoted_to: str | None = None
    gate: GateResult | None = None
    validation_warnings: list[str] = Field(default_factory=list)
    error: str | None = None
    error_type: str | None = None


class PipelineResult(Outcome):
    run_id: str
    steps: list[StepRecord]
    transitions: list[str] = Field(
        default_factory=list, description="States entered, in order (Step Functions runs)."
    )


Task = Callable[[dict[str, Any]], dict[str, Any]]


class PipelineStep(BaseModel):
    """One task state of the pipeline (core/pipeline_steps.json)."""

    name: str
    state: str
    handler: str
    result_path: str
    remote_training: bool = False


@cache
def pipeline_steps() -> tuple[PipelineStep, ...]:
    """The task states in order, as core/pipeline_steps.json writes them once."""
    raw = json.loads((files(__package__) / "pipeline_steps.json").read_text())
    return tuple(PipelineStep.model_validate(step) for step in raw["steps"])


def pipeline_definition() -> str:
    """The Step Functions definition template (core/pipeline.asl.json) Terraform renders."""
    return (files(__package__) / "pipeline.asl.json").read_text()


def step_tasks(steps: PipelineSteps, *, actor: str) -> dict[str, Task]:
    """The tasks as plain calls into PipelineSteps (what the Lambda handlers do, minus Lambda)."""

    def validate(state: dict[str, Any]) -> dict[str, Any]:
        checked = steps.validate(state["model"], state["key"], run_id=state["run_id"], actor=actor)
        return checked.model_dump(mode="json")

    def train(state: dict[str, Any]) -> dict[str, Any]:
        s = PipelineState.model_validate(state)
        assert s.validation is not None
        run = steps.train(s.model, s.validation.dataset, s.run_id)
        return TrainOutput(mode="lambda", run=run).model_dump(mode="json")

    def evaluate(state: dict[str, Any]) -> dict[str, Any]:
        s = PipelineState.model_validate(state)
        return steps.evaluate(s.model, s.run).model_dump(mode="json")

    def register(state: dict[str, Any]) -> dict[str, Any]:
        s = PipelineState.model_validate(state)
        promote_to = state.get("promote_to")  # this run's choice (the Lambda reads settings)
        return steps.register_candidate(s, actor=actor, promote_to=promote_to).model_dump(
            mode="json"
        )

    return {"validate": validate, "train": train, "evaluate": evaluate, "register": register}


def remote_training_task(
    steps: PipelineSteps,
    launcher: TrainingLauncher,
    *,
    poll_seconds: float = 30.0,
    timeout_seconds: float = 4 * 3600,
) -> Task:
    """The train state done by a training job: start it, poll until it ends, collect its output
    (the Step Functions definition does the same with Wait and DescribeTrainingJob)."""

    def train(state: dict[str, Any]) -> dict[str, Any]:
        s = PipelineState.model_validate(state)
        assert s.validation is not None
        job = steps.start_training(launcher, s.model, s.validation.dataset, s.run_id)
        deadline = time.monotonic() + timeout_seconds
        while job.status in ("InProgress", "Stopping"):
            if time.monotonic() > deadline:
                raise TrainingJobFailed(f"training job {job.name} still running after the timeout")
            time.sleep(poll_seconds)
            job = launcher.status(job.name)
        run = steps.collect_training(s.model, s.run_id, job)
        return TrainOutput(mode="sagemaker", job=job, run=run).model_dump(mode="json")

    return train


class LocalPipeline:
    """Plays the pipeline's states in order with the ASL's Catch semantics: any failure ends the
    run with its reason, and the registry is only written by the last task.

    `tasks` decides how a state runs: direct calls (default) or the Lambda handlers themselves.
    """

    def __init__(
        self, backend: Backend, *, actor: str = "pipeline", tasks: dict[str, Task] | None = None
    ) -> None:
        self.backend = backend
        self.actor = actor
        self.tasks = tasks or step_tasks(PipelineSteps(backend), actor=actor)

    def run(
        self,
        model: str,
        key: str,
        *,
        run_id: str | None = None,
        auto_promote: str | None = None,
        on_step: Callable[[str], None] | None = None,
    ) -> PipelineResult:
        run_id = safe_run_id(
            run_id or f"{model}-{time.strftime('%Y%m%dT%H%M%S')}-{time.time_ns() % 10**6}"
        )
        result = PipelineResult(run_id=run_id, status="failed", steps=[])
        state: dict[str, Any] = {
            "model": model,
            "key": key,
            "run_id": run_id,
            "promote_to": auto_promote,
        }
        try:
            for step in pipeline_steps():
                if step.remote_training:
                    continue  # the train task polls and collects a remote job itself
                name, result_path = step.name, step.result_path
                if name == "register":
                    gate = GateResult.model_validate(state["evaluation"]["gate"])
                    result.gate = gate
                    if not gate.passed:
                        result.steps.append(
                            StepRecord(
                                name=name,
                                status="skipped",
                                seconds=0,
                                detail="; ".join(gate.reasons),
                            )
                        )
                        result.status = "rejected"
                        return result
                task = self.tasks[name]
                state[result_path] = self._step(result, name, partial(task, state), on_step)
                if name == "validate":
                    result.validation_warnings = state[result_path]["warnings"]
            registered = RegisterOutput.model_validate(state["registered"])
            result.version = registered.version
            result.promoted_to = registered.promoted_to
            result.status = "registered"
        except Exception as exc:
            result.error = str(exc)
            result.error_type = type(exc).__name__
            # As the definition's failure state does: the run's record says how it stopped (if
            # the registry itself failed, the result's error already says so).
            with contextlib.suppress(Exception):
                PipelineSteps(self.backend).fail_run(model, run_id, exc)
        return result

    @staticmethod
    def _step(
        result: PipelineResult,
        name: str,
        fn: Callable[[], Any],
        on_step: Callable[[str], None] | None,
    ) -> Any:
        if on_step:
            on_step(name)
        start = time.perf_counter()
        try:
            value = fn()
        except Exception as exc:
            result.steps.append(
                StepRecord(
                    name=name,
                    status="failed",
                    seconds=round(time.perf_counter() - start, 3),
                    detail=str(exc),
                )
            )
            raise
        result.steps.append(
            StepRecord(name=name, status="succeeded", seconds=round(time.perf_counter() - start, 3))
        )
        return value
