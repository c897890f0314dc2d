"""Data and model files under races and crashes: two arrivals with one name, a crash while a
stored file is written, a training run killed before its version was recorded."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from datetime import timedelta

import pytest

from mlops_template.core import pipeline
from mlops_template.core.pipeline import DataValidationError, LocalPipeline, PipelineSteps
from mlops_template.core.registry import VersionNotFound
from mlops_template.training.config import TrainingConfig
from mlops_template.training.datasets import TARGET, to_csv_bytes

MODEL = "bc"
ARRIVAL = "incoming/data.csv"


@pytest.fixture(params=["local", "aws"])
def any_backend(request):
    """The local backend and the AWS one (moto): the same attack runs against both."""
    backend = request.getfixturevalue("backend" if request.param == "local" else "aws_backend")
    PipelineSteps(backend).save_config(TrainingConfig(model_name=MODEL, target=TARGET))
    return backend


@pytest.fixture(scope="module")
def poisoned(frame) -> bytes:
    """A file validation rejects: a third of one feature missing."""
    damaged = frame.copy()
    damaged.loc[damaged.index[::3], damaged.columns[0]] = None
    return to_csv_bytes(damaged)


def test_a_file_swapped_in_during_validation_is_neither_stored_nor_lost(
    any_backend, csv_bytes, poisoned, monkeypatch
):
    """Two ingests of files with the same name at once: the second lands between the check of
    the first and its storing. Stored must be the bytes checked, and the second file must stay
    for its own run, which rejects it."""
    steps = PipelineSteps(any_backend)
    store = any_backend.data
    store.put(ARRIVAL, csv_bytes)
    check = pipeline.validate_data

    def second_ingest_lands(*args, **kwargs):
        checked = check(*args, **kwargs)
        store.put(ARRIVAL, poisoned)
        return checked

    monkeypatch.setattr(pipeline, "validate_data", second_ingest_lands)
    accepted = steps.validate(MODEL, ARRIVAL)
    monkeypatch.undo()
    assert accepted.dataset.sha256 == hashlib.sha256(csv_bytes).hexdigest()
    assert store.get(accepted.dataset.key) == csv_bytes
    assert store.get(ARRIVAL) == poisoned
    with pytest.raises(DataValidationError):
        steps.validate(MODEL, ARRIVAL)
    [quarantined] = [k for k in store.keys("quarantine/") if not k.endswith(".report.json")]
    assert store.get(quarantined) == poisoned
    assert store.keys("incoming/") == store.keys("claimed/") == []


REVALIDATE_AND_CRASH = """
import resource, sys
from mlops_template.infra.local import local_backend
from mlops_template.core.pipeline import PipelineSteps
from mlops_template.core.settings import Settings

steps = PipelineSteps(local_backend(Settings(home=sys.argv[1])))
# The kernel kills this process (SIGXFSZ) as soon as a write goes past 32 KiB: the data file is
# bigger, the reports are smaller.
resource.setrlimit(resource.RLIMIT_FSIZE, (32 * 1024, 32 * 1024))
steps.validate("bc", "incoming/again.csv")
"""


def test_a_crash_while_revalidating_leaves_the_stored_file_whole(backend, csv_bytes):
    steps = PipelineSteps(backend)
    steps.save_config(TrainingConfig(model_name=MODEL, target=TARGET))
    backend.data.put("incoming/day1.csv", csv_bytes)
    stored = steps.validate(MODEL, "incoming/day1.csv").dataset
    backend.data.put("incoming/again.csv", csv_bytes)
    subprocess.run(
        [sys.executable, "-c", REVALIDATE_AND_CRASH, str(backend.data.root.parent)],
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        check=False,
    )
    assert backend.data.get(stored.key) == csv_bytes


def test_revalidating_the_same_bytes_does_not_rewrite_them_on_s3(aws_backend, csv_bytes):
    import boto3

    steps = PipelineSteps(aws_backend)
    steps.save_config(TrainingConfig(model_name=MODEL, target=TARGET))
    for name in ("day1", "again"):
        aws_backend.data.put(f"incoming/{name}.csv", csv_bytes)
        stored = steps.validate(MODEL, f"incoming/{name}.csv").dataset
    listed = boto3.client("s3").list_object_versions(
        Bucket=aws_backend.data.bucket, Prefix=stored.key
    )
    writes = [v for v in listed["Versions"] if v["Key"] == stored.key]
    assert len(writes) == 1  # stored once; the second validation found it there


REGISTER_AND_DIE = """
import os, signal, sys
from mlops_template.infra.local import local_backend
from mlops_template.core.pipeline import Dataset, PipelineSteps, RunOutput
from mlops_template.core.settings import Settings
from mlops_template.training.gate import GateResult

home, run, gate, dataset = sys.argv[1:]
backend = local_backend(Settings(home=home))
# Killed with SIGKILL after the artifacts were copied, before the version was recorded.
backend.registry.store.register = lambda record: os.kill(os.getpid(), signal.SIGKILL)
PipelineSteps(backend).register(
    "bc",
    RunOutput.model_validate_json(run),
    GateResult.model_validate_json(gate),
    Dataset.model_validate_json(dataset),
    actor="doomed",
)
"""


def test_a_killed_registration_leaves_files_a_later_one_discards(backend, csv_bytes):
    steps = PipelineSteps(backend)
    steps.save_config(TrainingConfig(model_name=MODEL, target=TARGET))
    backend.data.put("incoming/day1.csv", csv_bytes)
    validated = steps.validate(MODEL, "incoming/day1.csv")
    run = steps.train(MODEL, validated.dataset, "run-1")
    gate = steps.evaluate(MODEL, run).gate
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            REGISTER_AND_DIE,
            str(backend.data.root.parent),
            run.model_dump_json(),
            gate.model_dump_json(),
            validated.dataset.model_dump_json(),
        ],
        capture_output=True,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    assert backend.artifacts.keys("models/bc/v1/")  # the dead run's files, with no record
    with pytest.raises(VersionNotFound):
        backend.registry.get(MODEL, 1)

    # Within the hour it may still be running: its files are left alone.
    second = steps.register(MODEL, run, gate, validated.dataset, actor="t")
    assert backend.artifacts.keys("models/bc/v1/")
    # Once it is certainly dead, the next registration deletes them. The number is not reused.
    later = PipelineSteps(backend, abandoned_after=timedelta(0))
    third = later.register(MODEL, run, gate, validated.dataset, actor="t")
    assert backend.artifacts.keys("models/bc/v1/") == []
    assert [v.version for v in backend.registry.versions(MODEL)] == [2, 3]
    assert (second.version, third.version) == (2, 3)
    assert not [k for k in backend.artifacts.keys("models/") if k.endswith("pending.json")]
    for version in (second, third):
        for ref in version.artifacts.values():
            assert backend.artifacts.exists(ref.key)


def test_the_local_pipeline_leaves_nothing_in_incoming_or_claimed(backend, csv_bytes):
    PipelineSteps(backend).save_config(TrainingConfig(model_name=MODEL, target=TARGET))
    backend.data.put(ARRIVAL, csv_bytes)
    result = LocalPipeline(backend).run(MODEL, ARRIVAL)
    assert result.status == "registered", result.error
    assert backend.data.keys("incoming/") == backend.data.keys("claimed/") == []
