"""The registry under contention and crashes, on both adapters (SQLite and DynamoDB on moto)."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from mlops_template.core.pipeline import LocalPipeline, PipelineSteps
from mlops_template.core.registry import NoPreviousVersionError, StaleStageError
from mlops_template.core.settings import Settings
from mlops_template.infra.local import local_backend
from mlops_template.training.config import TrainingConfig
from mlops_template.training.datasets import TARGET
from mlops_template.training.files import MODEL_FILE
from tests.contract.test_registry import MODEL, make_version

RACERS = 12


def race(registry, candidates: list[int], revision: int) -> list[int]:
    """Every candidate tries to take production from the same revision at the same moment."""
    barrier = threading.Barrier(len(candidates))
    won: list[int] = []
    lock = threading.Lock()

    def promote(version: int) -> None:
        barrier.wait(timeout=30)
        try:
            registry.promote(
                MODEL, version, "production", actor=f"racer-{version}", expected_revision=revision
            )
        except StaleStageError:
            return
        with lock:
            won.append(version)

    threads = [threading.Thread(target=promote, args=(v,)) for v in candidates]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return won


def test_racing_promotions_one_winner_per_round_and_a_consistent_history(registry):
    rounds = 3
    versions = [make_version(registry).version for _ in range(RACERS + 2)]
    registry.promote(MODEL, versions[0], "production", actor="seed")
    winners = []
    for _ in range(rounds):
        revision = registry.aliases(MODEL)["production"].revision
        current = registry.current(MODEL, "production").version
        candidates = [v for v in versions[1:] if v != current][:RACERS]
        won = race(registry, candidates, revision)
        assert len(won) == 1, won
        winners.append(won[0])
    history = registry.history(MODEL, "production")
    assert [e.revision for e in history] == list(range(1, rounds + 2))  # no gap, no duplicate
    assert [e.to_version for e in history] == [versions[0], *winners]
    for before, after in itertools.pairwise(history):
        assert after.from_version == before.to_version  # each move starts where the last ended
    assert registry.current(MODEL, "production").version == winners[-1]


def test_rolling_back_past_the_first_version_is_a_clear_error(registry):
    first = make_version(registry)
    registry.promote(MODEL, first.version, "production", actor="t")
    with pytest.raises(NoPreviousVersionError, match="first it served"):
        registry.rollback(MODEL, "production", actor="t")
    assert registry.current(MODEL, "production").version == first.version


def test_a_crash_after_upload_leaves_no_version_pointing_at_missing_files_on_aws(
    aws_backend, csv_bytes, monkeypatch
):
    PipelineSteps(aws_backend).save_config(TrainingConfig(model_name="bc", target=TARGET))
    aws_backend.data.put("incoming/x.csv", csv_bytes)

    def crash(_record):
        raise ConnectionError("lost the connection to DynamoDB")

    monkeypatch.setattr(aws_backend.registry.store, "register", crash)
    result = LocalPipeline(aws_backend).run("bc", "incoming/x.csv")
    assert (result.status, result.error_type) == ("failed", "ConnectionError")
    monkeypatch.undo()
    assert aws_backend.registry.versions("bc") == []
    assert aws_backend.artifacts.keys("models/bc/") == []  # the failed attempt took its files
    # A later run registers normally; every registered version's artifacts exist.
    aws_backend.data.put("incoming/y.csv", csv_bytes)
    again = LocalPipeline(aws_backend).run("bc", "incoming/y.csv")
    assert again.status == "registered"
    for version in aws_backend.registry.versions("bc"):
        for ref in version.artifacts.values():
            assert aws_backend.artifacts.exists(ref.key)


# -- the registry file itself damaged, emptied or read-only: `mlops` run as a person runs it ----


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory, csv_bytes) -> Path:
    """v1 and v2 of "bc" registered in a local home: trained once for the module."""
    home = tmp_path_factory.mktemp("trained") / "home"
    backend = local_backend(Settings(home=home))
    PipelineSteps(backend).save_config(TrainingConfig(model_name="bc", target=TARGET))
    for day in (1, 2):
        backend.data.put(f"incoming/day{day}.csv", csv_bytes)
        assert LocalPipeline(backend).run("bc", f"incoming/day{day}.csv").version == day
    return home


@pytest.fixture
def home(trained_home, tmp_path) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(trained_home, copy)
    return copy


def mlops(home: Path, *args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """The `mlops` console script in its own process, on `home`."""
    script = Path(sys.executable).parent / "mlops"
    env = {**os.environ, "MLOPS_HOME": str(home), "MLOPS_MODEL_NAME": "bc", "COLUMNS": "200"}
    return subprocess.run(
        [*prefix, str(script), *args], capture_output=True, text=True, env=env, check=False
    )


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_an_emptied_registry_refuses_to_start_over_on_the_old_versions(home, data_file):
    model_file = home / "artifacts" / "models" / "bc" / "v1" / MODEL_FILE
    before = model_file.read_bytes()
    (home / "registry.db").write_bytes(b"")
    listed = one_line_error(mlops(home, "registry", "list"))
    assert "holds model artifacts but its registry registry.db is empty" in listed
    one_line_error(mlops(home, "train", "--data", str(data_file)))
    assert model_file.read_bytes() == before
    assert (home / "registry.db").read_bytes() == b""  # left for the person to restore


def test_a_damaged_registry_is_one_line_not_a_traceback(home):
    database = home / "registry.db"
    database.write_bytes(database.read_bytes()[: database.stat().st_size // 2])
    for command in (
        ("registry", "list"),
        ("registry", "history"),
        ("promote", "1", "--to", "staging"),
    ):
        assert "is damaged" in one_line_error(mlops(home, *command)), command


def read_only_prefix(path: Path) -> tuple[str, ...]:
    """A command prefix that runs a process with `path` read-only: root ignores file modes, so
    it gets a read-only bind mount in a mount namespace of its own; others get the modes."""
    if os.geteuid() != 0:
        for item in [path, *path.rglob("*")]:
            item.chmod(item.stat().st_mode & ~0o222)
        return ()
    mount = f'mount --bind {path} {path} && mount -o remount,ro,bind {path} && exec "$@"'
    prefix = ("unshare", "--mount", "sh", "-c", mount, "sh")
    if subprocess.run([*prefix, "true"], capture_output=True, check=False).returncode:
        pytest.skip("cannot make a read-only mount here")
    return prefix


def test_a_read_only_home_still_answers_read_commands(home, data_file):
    read_only = read_only_prefix(home)
    try:
        for command in (
            ("registry", "list"),
            ("registry", "show", "2"),
            ("registry", "history"),
            ("registry", "check", "2"),
            ("validate", str(data_file)),
        ):
            result = mlops(home, *command, prefix=read_only)
            assert result.returncode == 0, (command, result.stderr)
        refused = one_line_error(mlops(home, "promote", "2", "--to", "staging", prefix=read_only))
        assert "read-only" in refused
    finally:
        for item in [home, *home.rglob("*")]:
            item.chmod(item.stat().st_mode | 0o200)


def test_promotion_and_check_refuse_a_version_whose_model_file_is_gone(home):
    (home / "artifacts" / "models" / "bc" / "v2" / MODEL_FILE).unlink()
    refused = one_line_error(mlops(home, "promote", "2", "--to", "production"))
    assert f"bc v2 cannot be used: {MODEL_FILE} is missing" in refused
    checked = one_line_error(mlops(home, "registry", "check", "2"))
    assert f"{MODEL_FILE} is missing" in checked
    assert "production" not in mlops(home, "registry", "list").stdout
