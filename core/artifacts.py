"""Where things are kept in the buckets, and reading artifacts with their hash checked."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime

from mlops_template.core.ports import BlobStore
from mlops_template.core.records import ArtifactRef

INCOMING_PREFIX = "incoming/"


class ArtifactIntegrityError(Exception):
    """An artifact's bytes do not match the SHA-256 the registry recorded: do not use it."""


def schema_key(model: str) -> str:
    return f"schemas/{model}.json"


def config_key(model: str) -> str:
    return f"configs/{model}.json"


def config_history_prefix(model: str) -> str:
    return f"configs/{model}/history/"


def config_history_key(model: str, at: str) -> str:
    # ISO timestamps sort as text: listing the prefix gives the changes oldest first.
    return f"{config_history_prefix(model)}{at.replace(':', '')}.json"


def latest_dataset_key(model: str) -> str:
    return f"datasets/{model}/latest.json"


def validated_key(model: str, sha256: str) -> str:
    # Content-addressed: the same file validated twice is one data version.
    return f"validated/{model}/{sha256}.csv"


def arrival_key(filename: str) -> str:
    # A folder of its own per upload: two files with the same name never share a key.
    return f"{INCOMING_PREFIX}{uuid.uuid4().hex[:12]}/{filename}"


def claimed_key(model: str, run_id: str, source_key: str) -> str:
    # One key per pipeline run: the arrival it took out of incoming/, which nothing else writes.
    name = source_key.rsplit("/", 1)[-1]
    return f"claimed/{model}/{run_id}/{name}"


def quarantine_key(model: str, source_key: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    name = source_key.rsplit("/", 1)[-1]
    return f"quarantine/{model}/{stamp}-{name}"


def report_key(data_key: str) -> str:
    return f"{data_key}.report.json"


def run_key(model: str, run_id: str, name: str) -> str:
    return f"runs/{model}/{run_id}/{name}"


def versions_prefix(model: str) -> str:
    return f"models/{model}/"


def version_key(model: str, version: int, name: str) -> str:
    return f"{versions_prefix(model)}v{version}/{name}"


def pending_key(model: str, version: int) -> str:
    # Written when a version number is taken, removed once its record is written: a version
    # folder holding it and no record was left by a run that died (see PipelineSteps.register).
    return version_key(model, version, "pending.json")


_RUN_ID = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_run_id(text: str) -> str:
    """Run ids end up in keys and Step Functions execution names (max 80, [A-Za-z0-9-_])."""
    return _RUN_ID.sub("-", text).strip("-")[:80] or "run"


def read_verified(store: BlobStore, ref: ArtifactRef) -> bytes:
    data = store.get(ref.key)
    actual = hashlib.sha256(data).hexdigest()
    if actual != ref.sha256:
        raise ArtifactIntegrityError(
            f"{ref.uri} has SHA-256 {actual[:12]}..., the registry recorded {ref.sha256[:12]}..."
        )
    return data
