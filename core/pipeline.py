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
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import cache, partial
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

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
from mlops_template.core.freshness import file_newest, record_freshness
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
from mlops_template.core.settings import Settings
from mlops_template.training.config import ModelName, TrainingConfig, config_changes, parse_config
from mlops_template.training.contract import first_contract
from mlops_template.training.files import (
    ARTIFACT_FILES,
    HOLDOUT_FILE,
    MANIFEST_FILE,
    MODEL_FILE,
    SCHEMA_FILE,
    VALIDATION_REPORT_FILE,
)
from mlops_template.training.gate import GateResult, evaluate_gate
from mlops_template.training.policy import feature_policy_problems
from mlops_template.training.provenance import code_version
from mlops_template.training.schema import DatasetSchema, SchemaError
from mlops_template.training.spreadsheet import read_spreadsheet_csv
from mlops_template.training.train import RunManifest, TrainingRun, train
from mlops_template.training.validation import (
    ValidationReport,
    coerce_frame,
    read_typed,
    typed_batches,
    validate_data,
)

if TYPE_CHECKING:
    from mlops_template.core.features.definitions import FeatureRepo

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
    newest_timestamp: str | None = Field(
        default=None, description="The newest value of the time column (core/freshness.py)."
    )
    labels_key: str | None = Field(
        default=None,
        description="Trained from feature views: the label file the table was joined from, "
        "which a retrain joins again against the history as it is then.",
    )


class ValidateOutput(BaseModel):
    dataset: Dataset
    warnings: list[str] = Field(default_factory=list)
    report_key: str
    training_set: dict[str, Any] | None = Field(
        default=None,
        description="When the data was a label file joined against feature views: the "
        "training set's manifest (views and versions, the label file's SHA-256, the history's "
        "write time).",
    )


# Label files the pipeline built training tables from, kept by content (data bucket).
LABELS_PREFIX = "features/labels"


class TrainingTable:
    """A label file's joined training table, on local disk, and its manifest."""

    def __init__(self, path: Path, manifest: dict[str, Any], labels_key: str) -> None:
        self.path = path
        self.manifest = manifest
        self.labels_key = labels_key
        self.bytes = b""


class RunOutput(BaseModel):
    run_id: str
    manifest_key: str
    artifacts: dict[str, ArtifactRef]
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    parity_error: float
    model_sha256: str


class ProductionComparison(BaseModel):
    """Production and the candidate scored on the same held-out rows, unseen by either."""

    rows: int
    missing_columns: list[str] = Field(default_factory=list)
    production: dict[str, float] | None = None
    candidate: dict[str, float] | None = None
    # Which held-out rows were compared, and production's probabilities on them (for slices).
    compared: Any = Field(default=None, exclude=True)
    probabilities: Any = Field(default=None, exclude=True)
    candidate_probabilities: Any = Field(default=None, exclude=True)
    y_true: Any = Field(default=None, exclude=True)


# A run record is one registry item (400 KB in DynamoDB): a wide table's slices are all gated,
# the first ones recorded (configured columns, then categoricals, then numeric bins).
MAX_RECORDED_SLICES = 300


def _recorded(assessment: dict[str, Any]) -> dict[str, Any]:
    slices = assessment.get("slices", [])
    if len(slices) <= MAX_RECORDED_SLICES:
        return assessment
    return {**assessment, "slices": slices[:MAX_RECORDED_SLICES], "slices_total": len(slices)}


def _row_hashes(frame: Any, schema: DatasetSchema) -> Any:
    """One hash per row of a schema's features and target, typed as the model reads them."""
    import pandas as pd

    typed = coerce_frame(frame, schema, with_target=True)
    return pd.util.hash_pandas_object(
        typed[[*schema.feature_names, schema.target.name]], index=False
    )


class EvaluateOutput(BaseModel):
    gate: GateResult
    candidate_metrics: dict[str, float]
    production_metrics: dict[str, float] | None = None


class TrainOutput(BaseModel):
    """Where training ran: in this process (`run` is ready) or in a SageMaker job (`job`), or
    an Azure ML job the queue chain started (`remote`: `run` is set once it is collected)."""

    mode: Literal["lambda", "sagemaker", "remote"]
    run: RunOutput | None = None
    job: TrainingJob | None = None


class SageMakerJobs(BaseModel):
    """What the definition's SageMaker branch (core/pipeline.asl.json) passes to
    CreateProcessingJob (validation) and CreateTrainingJob: one shape, written by the Route step."""

    image_uri: str
    processing_job: str
    processing_instance_type: str
    training_job: str
    training_instance_type: str
    volume_gb: int
    max_runtime_seconds: int
    data_key: str
    data_uri: str
    contract_uri: str
    report_key: str
    report_uri: str
    schema_uri: str
    model_output_uri: str
    config_json: str


class RouteOutput(BaseModel):
    """Which engine a run's data goes to, and why (`$.route`)."""

    engine: Literal["lambda", "sagemaker"]
    size_bytes: int
    limit_bytes: int
    reason: str
    jobs: SageMakerJobs | None = None


class StepFailure(BaseModel):
    """The report beside a file a step could not finish with (quarantine/...report.json)."""

    source: str
    step: str
    error: str
    cause: str
    verdict: str
    size_bytes: int | None = None
    found_at: str | None = None
    failed_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())


class QuarantineOutput(BaseModel):
    key: str | None
    report_key: str
    verdict: str


# How Lambda, Step Functions and SageMaker say a step ran out of memory or time. Lambda's own
# kill of a function over its memory reaches Step Functions as Lambda.Unknown (AWS documents
# out-of-memory errors and function timeouts under that name) or Runtime.OutOfMemory; a Python
# MemoryError caught by the runtime keeps its class name.
OUT_OF_MEMORY = ("MemoryError", "Runtime.OutOfMemory", "OutOfMemory", "signal: killed")
OUT_OF_TIME = ("States.Timeout", "Sandbox.Timedout", "Task timed out", "MaxRuntimeExceeded")


def failure_verdict(step: str, error: str, cause: str) -> str:
    """One line a person reads first: which step, and whether memory or time ran out."""
    said = f"{error} {cause}"
    if any(sign in said for sign in OUT_OF_MEMORY):
        what = "ran out of memory"
    elif any(sign in said for sign in OUT_OF_TIME):
        what = "ran out of time"
    elif error == "Lambda.Unknown":
        what = "was killed by Lambda (out of memory or time)"
    else:
        what = "failed"
    return f"the {step} step {what}: {error}: {cause}"[:2000]


def choose_engine(size: int, settings: Settings) -> tuple[bool, str]:
    """(remote, why): does a file of `size` bytes train in a training service (SageMaker,
    Azure ML) rather than in the pipeline's functions? By size under `training_mode` auto."""
    limit, mode = settings.lambda_max_data_bytes, settings.training_mode
    if mode == "auto":
        over = size > limit
        return over, f"{size} bytes {'>' if over else '<='} {limit} (function limit)"
    return mode in ("sagemaker", "remote"), f"training_mode is {mode}"


def sagemaker_job_name(model: str, run_id: str, suffix: str) -> str:
    """SageMaker job names: at most 63 characters of [a-zA-Z0-9-], starting with the model
    (the IAM policies allow <model>-* only)."""
    import re

    base = re.sub(r"[^a-zA-Z0-9-]+", "-", f"{model}-{run_id}").strip("-")
    return f"{base[: 62 - len(suffix)].rstrip('-')}-{suffix}"


def job_files_key(model: str, run_id: str, name: str) -> str:
    """Where a run's SageMaker jobs read their contract and write their report (data bucket)."""
    return f"jobs/{model}/{run_id}/{name}"


class RegisterOutput(BaseModel):
    version: int
    promoted_to: str | None = None


class PipelineState(BaseModel):
    """The Step Functions execution state: each task adds its output under its own key."""

    model: ModelName
    key: str
    run_id: str
    reason: str = ""
    route: RouteOutput | None = None
    validation: ValidateOutput | None = None
    error: dict[str, Any] | None = None
    failed_step: str = ""
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
    # Past production versions the evaluate step re-scores to measure staleness.
    STALENESS_VERSIONS = 5

    def __init__(
        self,
        backend: Backend,
        *,
        abandoned_after: timedelta = ABANDONED_AFTER,
        feature_repo: FeatureRepo | None = None,
    ) -> None:
        self.backend = backend
        self.abandoned_after = abandoned_after
        self._feature_repo = feature_repo

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

    def _contract_for(
        self, model: str, data: Path, config: TrainingConfig, name: str | None = None
    ) -> tuple[DatasetSchema, bool]:
        """The model's contract, and whether it was inferred from this (first) file: then it is
        only stored once the file passes (training.contract: size first, a bounded sample)."""
        schema = self.load_schema(model)
        if schema is not None:
            return schema, False
        # First data for this model: the contract is inferred from it, then enforced on all data.
        if not config.target:
            raise SchemaError(
                f"no schema for model {model!r} yet: set `target` in its config or run "
                f"`{schema_hint(model, 'FILE.csv', None)}`"
            )
        return first_contract(data, config, name=name), True

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
        from mlops_template.core.features.offline import TrainingSetError

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
        # The file goes to local disk in pieces and is read from there in record batches:
        # memory does not grow with its size (docs/data-plane.md).
        scratch = tempfile.TemporaryDirectory(prefix="mlops-validate-")
        data = Path(scratch.name) / "data"
        store.download_to(key, data)
        inferred = False
        # Training from feature views: the file is a label file, and what is checked (and then
        # trained on) is the training table joined from it.
        table: TrainingTable | None = None
        try:
            if config.features_from is not None:
                table = self._training_table(model, key, source, data, config)
                data = table.path
            schema, inferred = self._contract_for(model, data, config, source)
            policy = feature_policy_problems(schema, config.features)
            if policy:
                raise SchemaError(policy)
            report = validate_data(
                data,
                schema,
                config.validation,
                source=store.uri(source),
                time_rules=config.time_split,
            )
            if report.passed:
                report.newest_timestamp = file_newest(data, config.time, name=source)
        except (SchemaError, TrainingSetError) as exc:
            report = _unusable_report(store.uri(source), data, str(exc))
        except MemoryError:
            raise  # not a verdict on the file: the definition's Quarantine state reports it
        except Exception as exc:  # an unreadable first file cannot even yield a schema
            report = _unusable_report(store.uri(source), data, f"cannot read the file: {exc}")
        finally:
            if table is not None:  # the joined bytes are all that is needed of it from here
                table.bytes = table.path.read_bytes()
            scratch.cleanup()
        if not report.passed:
            target = quarantine_key(model, source)
            store.put(
                report_key(target),
                report.model_dump_json(indent=2).encode(),
                content_type="application/json",
            )
            if table is not None:  # the very bytes checked: the joined table
                store.put(target, table.bytes, content_type="text/csv")
            else:  # `key` is this run's claim (or the key given): the very bytes checked.
                store.copy(key, target)
            if claimed:
                store.delete(claimed)
            message = f"{report.summary()} (quarantined as {store.uri(target)})"
            if run_id:  # the source is the record's own field: the reason is the verdict
                verdict = message.removeprefix(f"{report.source}: ")
                self.end_run(model, run_id, "rejected_data", verdict, data_sha256=report.sha256)
            raise DataValidationError(message)
        if inferred:  # the first file passed: its contract now holds for all data
            self.save_schema(model, schema)
        target = validated_key(model, report.sha256)
        store.put(
            report_key(target),
            report.model_dump_json(indent=2).encode(),
            content_type="application/json",
        )
        # Content-addressed: the same bytes validated again are already there; never rewrite
        # (two runs racing to copy one content write the same bytes).
        if target != key and not store.exists(target):
            if table is not None:
                with contextlib.suppress(BlobExists):
                    store.put_if_absent(target, table.bytes, content_type="text/csv")
            else:
                store.copy(key, target)
        dataset = Dataset(
            key=target,
            uri=store.uri(target),
            sha256=report.sha256,
            rows=report.rows,
            newest_timestamp=report.newest_timestamp,
            labels_key=table.labels_key if table is not None else None,
        )
        store.put(
            latest_dataset_key(model),
            dataset.model_dump_json().encode(),
            content_type="application/json",
        )
        if report.newest_timestamp is not None:
            record_freshness(store, model, report.newest_timestamp, dataset.uri)
        if claimed:  # last: until here a retried step still finds the file it claimed
            store.delete(claimed)
        if run_id:
            self.update_run(
                model,
                run_id,
                data_sha256=report.sha256,
                data_newest_timestamp=report.newest_timestamp,
                rows={"file": report.rows},
            )
        return ValidateOutput(
            dataset=dataset,
            warnings=[i.message for i in report.warnings],
            report_key=report_key(target),
            training_set=table.manifest if table is not None else None,
        )

    def feature_repo(self) -> FeatureRepo:
        """The feature definitions a `features_from` config names views of: given, or the
        file MLOPS_FEATURE_REPO names (as the streaming function loads it)."""
        from mlops_template.core.features.definitions import DefinitionError, load_repo
        from mlops_template.core.features.offline import TrainingSetError
        from mlops_template.core.settings import get_settings

        if self._feature_repo is None:
            path = get_settings().feature_repo
            if not path:
                raise TrainingSetError(
                    "features_from needs the feature definitions: set MLOPS_FEATURE_REPO "
                    "(Terraform: feature_repo) to the definitions file"
                )
            try:
                self._feature_repo = load_repo(path)
            except DefinitionError as exc:
                raise TrainingSetError(str(exc)) from None
        return self._feature_repo

    def _training_table(
        self, model: str, key: str, source: str, labels: Path, config: TrainingConfig
    ) -> TrainingTable:
        """The label file joined point in time against the offline store: the training table
        (on local disk beside the label file) and its manifest. The label file is kept under
        its SHA-256 (the manifest's `entity_sha256`), so the table can be built again."""
        from mlops_template.core.features.labels import join_label_file
        from mlops_template.core.features.offline import OfflineStore

        assert config.features_from is not None
        store = self.backend.data
        data = labels.read_bytes()
        name = source.rsplit("/", 1)[-1]
        joined = join_label_file(
            OfflineStore(store), self.feature_repo(), config.features_from, data, name
        )
        built = joined.training_set
        suffix = ".parquet" if name.endswith(".parquet") else ".csv"
        kept = f"{LABELS_PREFIX}/{model}/{built.manifest['entity_sha256']}{suffix}"
        if not store.exists(kept):
            store.copy(key, kept)
        path = labels.with_name("training-table.csv")
        import pyarrow.csv as pacsv

        pacsv.write_csv(built.table, str(path))
        return TrainingTable(
            path=path,
            manifest={**built.manifest, "label_file": store.uri(kept), "source": name},
            labels_key=kept,
        )

    def route(
        self,
        model: str,
        key: str,
        run_id: str,
        settings: Settings,
        *,
        actor: str = "pipeline",
    ) -> RouteOutput:
        """The Route state: measure the file (a HEAD, nothing read) and choose the engine.

        Up to `settings.lambda_max_data_bytes` the functions validate and train it; past it a
        SageMaker Processing job validates and a Training job trains, with the same code. For
        those the file is claimed here (as the validate step claims it for itself), the run's
        record started, and the jobs' requests written out (`jobs`)."""
        store = self.backend.data
        size = store.size(key)
        limit = settings.lambda_max_data_bytes
        remote, reason = choose_engine(size, settings)
        engine: Literal["lambda", "sagemaker"] = "sagemaker" if remote else "lambda"
        if engine == "lambda":
            return RouteOutput(engine=engine, size_bytes=size, limit_bytes=limit, reason=reason)
        config = self.load_config(model)
        if config.features_from is not None:
            # The join runs in the validate function; the Processing job checks files as sent.
            raise ValueError(
                f"{model} trains from feature views (features_from), which runs in the "
                f"functions only: this label file is routed to SageMaker ({reason})"
            )
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
        safe = safe_run_id(run_id)
        data_key = key
        if key.startswith(INCOMING_PREFIX):
            data_key = claimed_key(model, safe, key)
            if not store.exists(data_key):  # a retried step finds its claim already made
                store.claim(key, data_key)
        schema = self.load_schema(model)
        contract = {
            "source": store.uri(key),
            "config": config.model_dump(mode="json"),
            "schema": json.loads(schema.to_json()) if schema else None,
        }
        contract_key = job_files_key(model, safe, "contract/contract.json")
        store.put(contract_key, json.dumps(contract).encode(), content_type="application/json")
        report_prefix = job_files_key(model, safe, "validation")
        gib = 1024**3
        artifacts = self.backend.artifacts.uri("sagemaker")
        jobs = SageMakerJobs(
            image_uri=settings.training_image_uri,
            processing_job=sagemaker_job_name(model, safe, "validate"),
            processing_instance_type=settings.processing_instance_type,
            training_job=sagemaker_job_name(model, safe, "train"),
            training_instance_type=settings.sagemaker_instance_type,
            # The file, its validated copy and the model's working files, with room to spare.
            volume_gb=max(30, -(-3 * size // gib) + 10),
            max_runtime_seconds=settings.training_max_runtime_seconds,
            data_key=data_key,
            data_uri=store.uri(data_key),
            contract_uri=store.uri(contract_key.rsplit("/", 1)[0]),
            report_key=report_prefix,
            report_uri=store.uri(report_prefix),
            schema_uri=store.uri(schema_key(model)),
            model_output_uri=f"{artifacts}/{model}",
            config_json=config.model_dump_json(),
        )
        return RouteOutput(
            engine=engine, size_bytes=size, limit_bytes=limit, reason=reason, jobs=jobs
        )

    def collect_validation(
        self, model: str, key: str, run_id: str, jobs: SageMakerJobs
    ) -> ValidateOutput:
        """After the Processing job: its report decides, exactly as in the validate step. The
        file is copied inside the store (never read here: it is too big for this function)."""
        store = self.backend.data
        try:
            report = ValidationReport.model_validate_json(
                store.get(f"{jobs.report_key}/{VALIDATION_REPORT_FILE}")
            )
        except BlobNotFound:
            raise ValueError(f"processing job {jobs.processing_job} wrote no report") from None
        report.source = store.uri(key)
        if not report.passed:
            target = quarantine_key(model, key)
            store.put(
                report_key(target),
                report.model_dump_json(indent=2).encode(),
                content_type="application/json",
            )
            store.copy(jobs.data_key, target)
            if jobs.data_key != key:
                store.delete(jobs.data_key)
            message = f"{report.summary()} (quarantined as {store.uri(target)})"
            verdict = message.removeprefix(f"{report.source}: ")
            self.end_run(model, run_id, "rejected_data", verdict, data_sha256=report.sha256)
            raise DataValidationError(message)
        inferred = f"{jobs.report_key}/{SCHEMA_FILE}"
        if self.load_schema(model) is None and store.exists(inferred):
            # The first file passed: the contract the job inferred from its sample now holds.
            self.save_schema(model, DatasetSchema.from_json(store.get(inferred)))
        target = validated_key(model, report.sha256)
        store.put(
            report_key(target),
            report.model_dump_json(indent=2).encode(),
            content_type="application/json",
        )
        if not store.exists(target):  # content-addressed: never rewritten
            store.copy(jobs.data_key, target)
        dataset = Dataset(
            key=target,
            uri=store.uri(target),
            sha256=report.sha256,
            rows=report.rows,
            newest_timestamp=report.newest_timestamp,
        )
        store.put(
            latest_dataset_key(model),
            dataset.model_dump_json().encode(),
            content_type="application/json",
        )
        if report.newest_timestamp is not None:
            record_freshness(store, model, report.newest_timestamp, dataset.uri)
        if jobs.data_key != key:
            store.delete(jobs.data_key)
        self.update_run(
            model,
            run_id,
            data_sha256=report.sha256,
            data_newest_timestamp=report.newest_timestamp,
            rows={"file": report.rows},
        )
        return ValidateOutput(
            dataset=dataset,
            warnings=[i.message for i in report.warnings],
            report_key=report_key(target),
        )

    def quarantine_failed(self, state: PipelineState) -> QuarantineOutput:
        """The Quarantine state: a step died (out of memory, out of time, or any error of its
        own), so the file goes to quarantine/ with a report naming the step and the error,
        wherever the run had left it (incoming/, its claim, or its validated copy). Nothing is
        registered; the failure state that follows ends the run's record."""
        store = self.backend.data
        model, key = state.model, state.key
        error = state.error or {}
        step = state.failed_step or "unknown"
        name, cause = str(error.get("Error", "")), str(error.get("Cause", ""))
        with contextlib.suppress(ValueError, TypeError, KeyError):
            cause = json.loads(cause)["errorMessage"]  # a Lambda error's cause is its payload
        places = [
            state.route.jobs.data_key if state.route and state.route.jobs else None,
            claimed_key(model, safe_run_id(state.run_id), key)
            if key.startswith(INCOMING_PREFIX)
            else None,
            key,
            state.validation.dataset.key if state.validation else None,
        ]
        found = next((p for p in places if p and store.exists(p)), None)
        target = quarantine_key(model, key)
        report = StepFailure(
            source=store.uri(key),
            step=step,
            error=name,
            cause=cause,
            verdict=failure_verdict(step, name, cause),
            size_bytes=store.size(found) if found else None,
            found_at=store.uri(found) if found else None,
        )
        if found == key and key.startswith(INCOMING_PREFIX):
            store.claim(key, target)  # a newer upload under the same name stays for its own run
        elif found:
            store.copy(found, target)
            if state.validation is None or found != state.validation.dataset.key:
                store.delete(found)  # a claim of this run's; a validated copy is shared
        store.put(
            report_key(target),
            report.model_dump_json(indent=2).encode(),
            content_type="application/json",
        )
        log.error("quarantined %s: %s", store.uri(key), report.verdict)
        return QuarantineOutput(
            key=target if found else None, report_key=report_key(target), verdict=report.verdict
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
        with tempfile.TemporaryDirectory(prefix="mlops-train-") as scratch:
            data = Path(scratch) / "data"
            self.backend.data.download_to(dataset.key, data)
            frame = read_typed(data, schema, with_target=True, name=dataset.key)
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
        """Turn a finished job's output into a run, exactly like an in-process run: SageMaker's
        model.tar.gz, or the model folder an Azure ML job wrote (its URI ends with `/`)."""
        if job.status != "Completed" or not job.model_artifacts:
            raise TrainingJobFailed(
                f"training job {job.name} ended {job.status}: {job.failure_reason or 'no output'}"
            )
        prefix = self.backend.artifacts.uri("")
        if not job.model_artifacts.startswith(prefix):
            raise TrainingJobFailed(f"{job.model_artifacts} is outside the artifact store {prefix}")
        if job.model_artifacts.endswith("/"):
            files = self._read_model_folder(job, job.model_artifacts.removeprefix(prefix))
        else:
            files = self._read_model_tarball(job, job.model_artifacts.removeprefix(prefix))
        manifest = RunManifest.model_validate_json(files.pop(MANIFEST_FILE))
        return self._upload(model, safe_run_id(run_id), files, manifest)

    def _read_model_folder(self, job: TrainingJob, folder: str) -> dict[str, bytes]:
        files: dict[str, bytes] = {}
        for name in (*ARTIFACT_FILES, MANIFEST_FILE):
            try:
                files[name] = self.backend.artifacts.get(f"{folder}{name}")
            except BlobNotFound:
                raise TrainingJobFailed(
                    f"training job {job.name} reported {job.status} but wrote no {name} "
                    f"in {job.model_artifacts}"
                ) from None
        return files

    def _read_model_tarball(self, job: TrainingJob, key: str) -> dict[str, bytes]:
        assert job.model_artifacts is not None
        try:
            archive = self.backend.artifacts.get(key)
        except BlobNotFound:
            raise TrainingJobFailed(
                f"training job {job.name} reported {job.status} but wrote no {job.model_artifacts}"
            ) from None
        return _read_model_archive(archive)

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
        candidate_outputs = candidate_model.outputs_frame(frame)
        candidate = model_metrics(y_true, candidate_outputs, schema.target)
        production = self.backend.registry.current(model, "production")
        compared = (
            self._score_production(production, holdout, schema, candidate_model)
            if production
            else None
        )
        production_metrics = compared.production if compared else None
        manifest = RunManifest.model_validate_json(store.get(run.manifest_key))
        assessment = self._assess(
            model, manifest, holdout, frame, candidate_outputs, schema, config, compared
        )
        gate = evaluate_gate(
            config.gate,
            candidate,
            run.baseline_metrics,
            production_metrics,
            production_version=production.version if production else None,
            parity_error=run.parity_error,
            candidate_on_production_rows=compared.candidate if compared else None,
            production_rows=compared.rows if compared else None,
            assessment=assessment,
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
            "config_sha256": manifest.config_sha256,
            "assessment": _recorded(assessment),
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

    def _assess(
        self,
        model: str,
        manifest: RunManifest,
        holdout: Any,
        frame: Any,
        probabilities: Any,
        schema: DatasetSchema,
        config: TrainingConfig,
        compared: ProductionComparison | None,
    ) -> dict[str, Any]:
        """Training's assessment (lift bound, simple model, importance, ablation, tuning) plus
        what needs the served ONNX models: production's lead, slices, group fairness and
        staleness. `probabilities` are the candidate's outputs (a regression's values)."""
        from mlops_template.training.assessment import bootstrap_lift, group_fairness, slice_metrics

        assessment = dict(manifest.assessment)
        y_true = frame[schema.target.name].tolist()
        alpha = config.gate.lift_alpha
        if compared is not None and compared.rows and alpha is not None:
            # How far production leads the candidate on the rows both were scored on, with its
            # confidence bound: a lead within the noise of few rows is no regression. For RMSE
            # the lead is the candidate's error minus production's (relative), so positive
            # still means production is better.
            assessment["production"] = bootstrap_lift(
                config.gate.metric_for(schema.target.task),
                compared.y_true,
                compared.probabilities,
                compared.candidate_probabilities,
                schema.target,
                rounds=config.gate.bootstrap_rounds,
                alpha=alpha,
                seed=config.seed,
            )
        assessment["slices"] = slice_metrics(
            frame,
            y_true,
            probabilities,
            schema,
            config,
            production=compared.probabilities if compared else None,
            compared=compared.compared if compared else None,
        )
        if config.features.sensitive:
            assessment["fairness"] = group_fairness(
                frame, y_true, probabilities, schema, config.features.sensitive
            )
        assessment["staleness"] = self._staleness(model, holdout, schema, config)
        return assessment

    def _staleness(
        self, model: str, holdout: Any, schema: DatasetSchema, config: TrainingConfig
    ) -> list[dict[str, Any]]:
        """The versions that served production (newest first, at most `STALENESS_VERSIONS`),
        each scored on the new held-out rows it never trained on, beside its age in days: how
        fast a model goes stale, which sets the retrain interval (docs/ml-test-score.md)."""
        registry = self.backend.registry
        versions = list(
            dict.fromkeys(e.to_version for e in reversed(registry.history(model, "production")))
        )[: self.STALENESS_VERSIONS]
        now = datetime.now(UTC)
        gated = config.gate.metric_for(schema.target.task)
        out = []
        for number in versions:
            try:
                version = registry.get(model, number)
                scored = self._score_production(version, holdout, schema)
            except Exception as exc:  # an old version unreadable now is reported, not fatal
                out.append({"version": number, "error": f"{type(exc).__name__}: {exc}"[:200]})
                continue
            trained = datetime.fromisoformat(version.created_at)
            metric = (scored.production or {}).get(gated)
            out.append(
                {
                    "version": number,
                    "trained_at": version.created_at,
                    "age_days": round((now - trained).total_seconds() / 86400, 3),
                    "metric": gated,
                    "value": None if metric is None else round(metric, 6),
                    "rows": scored.rows,
                }
            )
        return out

    def _score_production(
        self,
        production: ModelVersion,
        holdout: Any,
        schema: DatasetSchema,
        candidate: Any = None,
    ) -> ProductionComparison:
        """Production and the candidate on the candidate's held-out rows that production never
        trained on, production reading them through its own schema. A column added since (a new
        schema) is simply not one of production's inputs, so a schema change never skips the
        comparison; a column production needs that the new data lacks reaches it as missing (its
        imputer answers as in serving). The rows are restricted because a new schema moves rows
        between the splits (the split hashes whole rows): production would otherwise be scored
        on rows it learnt."""
        import numpy as np

        from mlops_template.training.evaluate import model_metrics
        from mlops_template.training.onnx_model import load_onnx_model

        store = self.backend.artifacts
        prod_schema = DatasetSchema.from_json(
            read_verified(store, production.artifacts[SCHEMA_FILE])
        )
        if prod_schema.target.task != schema.target.task:
            # A model of the other task answers another question: nothing to compare.
            return ProductionComparison(rows=0, compared=np.zeros(len(holdout), dtype=bool))
        rows = holdout.copy()
        missing = [n for n in prod_schema.feature_names if n not in rows.columns]
        for name in missing:
            rows[name] = None
        seen = self._production_training_rows(production, prod_schema, store)
        keep = np.ones(len(rows), dtype=bool)
        if seen is not None and prod_schema.target.name == schema.target.name:
            keep = ~_row_hashes(rows, prod_schema).isin(seen).to_numpy()
        rows = rows[keep]
        if not len(rows):
            return ProductionComparison(rows=0, missing_columns=missing, compared=keep)
        prod_model = load_onnx_model(
            read_verified(store, production.artifacts[MODEL_FILE]), prod_schema
        )
        probabilities = prod_model.outputs_frame(coerce_frame(rows, prod_schema, with_target=False))
        if schema.target.task != "regression" and (
            prod_schema.target.classes != schema.target.classes
        ):
            # Production's probability columns follow its own classes: line them up with the
            # candidate's; a class production never knew gets probability 0.
            index = {c: i for i, c in enumerate(prod_schema.target.classes)}
            zeros = np.zeros(len(rows))
            probabilities = np.column_stack(
                [probabilities[:, index[c]] if c in index else zeros for c in schema.target.classes]
            )
        frame = coerce_frame(rows, schema, with_target=True)
        y_true = frame[schema.target.name].tolist()
        ours = None if candidate is None else candidate.outputs_frame(frame)
        return ProductionComparison(
            rows=len(rows),
            missing_columns=missing,
            production=model_metrics(y_true, probabilities, schema.target),
            candidate=None if ours is None else model_metrics(y_true, ours, schema.target),
            compared=keep,
            probabilities=probabilities,
            candidate_probabilities=ours,
            y_true=y_true,
        )

    def _production_training_rows(
        self, production: ModelVersion, prod_schema: DatasetSchema, store: Any
    ) -> Any:
        """Hashes of the rows production trained on (its data minus its held-out rows), or None
        when its data is not in this backend's data store. The data (CSV or Parquet) is
        downloaded to disk and read a record batch at a time: what is held is one batch and
        the hashes (8 bytes a row), whatever the file's size."""
        import pandas as pd

        key = validated_key(production.model, production.data_sha256)
        if production.source != self.backend.data.uri(key):
            return None
        try:
            held_out = read_verified(store, production.artifacts[HOLDOUT_FILE])
        except (BlobNotFound, KeyError):
            return None
        hashes: list[Any] = []
        with tempfile.TemporaryDirectory(prefix="mlops-evaluate-") as scratch:
            data = Path(scratch) / "data"
            try:
                self.backend.data.download_to(key, data)
            except BlobNotFound:
                return None
            for restart, frame in typed_batches(data, prod_schema):
                if restart:
                    hashes = []
                hashes.append(_row_hashes(frame, prod_schema))
        trained = pd.concat(hashes, ignore_index=True) if hashes else pd.Series([], dtype="uint64")
        held = _row_hashes(
            read_spreadsheet_csv(held_out, dtype={prod_schema.target.name: str}), prod_schema
        )
        return trained[~trained.isin(held)]

    def register(
        self,
        model: str,
        run: RunOutput,
        gate: GateResult,
        dataset: Dataset,
        *,
        actor: str,
        training_set: dict[str, Any] | None = None,
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
            record = self._version_record(model, version, run, gate, dataset, manifest, actor=actor)
            if training_set is not None:
                record.training_set = self._record_training_set(dataset, training_set)
            registered = registry.register(record)
        except Exception:
            self._discard_unregistered(model, version)
            raise
        store.delete(pending_key(model, version))
        return registered

    def _record_training_set(
        self, dataset: Dataset, training_set: dict[str, Any]
    ) -> dict[str, Any]:
        """The training set's manifest where serving and the monitor look for a version's
        views (the artifact bucket, under the data's SHA-256), and the lineage the version
        keeps of it. Written before the version's record: the entity form of /predict works
        from the moment the version exists."""
        from mlops_template.core.features.labels import lineage
        from mlops_template.core.features.offline import manifest_json
        from mlops_template.core.features.serving import manifest_key

        key = manifest_key(dataset.sha256)
        manifest = {**training_set, "sha256": dataset.sha256, "output": dataset.uri}
        self.backend.artifacts.put(key, manifest_json(manifest), content_type="application/json")
        return lineage(manifest, self.backend.artifacts.uri(key))

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
            state.model,
            state.run,
            state.evaluation.gate,
            state.validation.dataset,
            actor=actor,
            training_set=state.validation.training_set,
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
            data_newest_timestamp=dataset.newest_timestamp,
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


def _unusable_report(source: str, data: bytes | Path, message: str) -> ValidationReport:
    from mlops_template.training.tabular_io import as_seekable, scan
    from mlops_template.training.validation import Issue

    with as_seekable(data) as handle:
        scanned = scan(handle, text=False)
    return ValidationReport(
        source=source,
        sha256=scanned.sha256,
        size_bytes=scanned.size_bytes,
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
    state_machine_only: bool = False


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
        self,
        backend: Backend,
        *,
        actor: str = "pipeline",
        tasks: dict[str, Task] | None = None,
        steps: PipelineSteps | None = None,
    ) -> None:
        self.backend = backend
        self.actor = actor
        self.steps = steps or PipelineSteps(backend)
        self.tasks = tasks or step_tasks(self.steps, actor=actor)

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
                if step.remote_training or step.name not in self.tasks:
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
            failed = result.steps[-1].name if result.steps else ""
            if failed in ("validate", "train") and not isinstance(exc, DataValidationError):
                # As the definition's Quarantine state does: the file is not left behind.
                with contextlib.suppress(Exception):
                    self.steps.quarantine_failed(
                        PipelineState.model_validate(
                            {
                                **state,
                                "failed_step": failed,
                                "error": {"Error": result.error_type, "Cause": result.error},
                            }
                        )
                    )
            # As the definition's failure state does: the run's record says how it stopped (if
            # the registry itself failed, the result's error already says so).
            with contextlib.suppress(Exception):
                self.steps.fail_run(model, run_id, exc)
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
