"""What the integration tests share: the model's name, a version registered from the session's
trained run (and one in production), and the `mlops` CLI on the `backend` fixture's home."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from mlops_template.core.pipeline import Dataset, PipelineSteps
from mlops_template.core.settings import get_settings
from mlops_template.training.gate import GateResult

MODEL = "bc"
PASSED = GateResult(passed=True, metric="roc_auc", candidate=0.99, baseline=0.5, reasons=[])


def register(backend, trained, run_id="r1"):
    """The session's trained run registered as the next version of MODEL, its gate passed."""
    steps = PipelineSteps(backend)
    run = steps.upload_run(MODEL, run_id, trained)
    dataset = Dataset(key="validated/x.csv", uri="file:///x.csv", sha256="d" * 64, rows=569)
    return steps.register(MODEL, run, PASSED, dataset, actor="test")


@pytest.fixture
def live(backend, trained):
    """A version of MODEL in production."""
    version = register(backend, trained)
    backend.registry.promote(MODEL, version.version, "production", actor="test")
    return version


@pytest.fixture
def run(tmp_path, monkeypatch):
    """`mlops ...` in-process, with MLOPS_HOME the `backend` fixture's home (what one registers,
    the other sees) and MODEL as the default model."""
    from mlops_template.tooling.cli import app

    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLOPS_MODEL_NAME", MODEL)
    get_settings.cache_clear()
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args), catch_exceptions=False)

    yield invoke
    get_settings.cache_clear()
