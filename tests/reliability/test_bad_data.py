"""A corpus of bad files (tests/data/bad): each is quarantined with a report naming its problem,
nothing is lost, and no pipeline run registers a model from it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mlops_template.core.backend import Backend
from mlops_template.core.pipeline import LocalPipeline, PipelineSteps
from mlops_template.core.settings import Settings
from mlops_template.infra.local import local_backend
from mlops_template.training.config import TrainingConfig
from mlops_template.training.datasets import TARGET

CORPUS = Path(__file__).resolve().parents[1] / "data" / "bad"
EXPECTED = json.loads((CORPUS / "EXPECTED.json").read_text())
MODEL = "bc"


@pytest.fixture(scope="module")
def established_home(tmp_path_factory, csv_bytes) -> Path:
    """A model whose contract comes from good data, with v1 registered and in production: trained
    once for the module; each test gets its own copy of the home."""
    home = tmp_path_factory.mktemp("established") / "home"
    backend = local_backend(Settings(home=home))
    config = {"model_name": MODEL, "target": TARGET, "validation": {"max_bytes": 100_000}}
    PipelineSteps(backend).save_config(TrainingConfig.model_validate(config))
    good = csv_bytes[:90_000].rsplit(b"\n", 1)[0] + b"\n"  # under the corpus' size limit
    backend.data.put("incoming/good.csv", good)
    first = LocalPipeline(backend).run(MODEL, "incoming/good.csv", auto_promote="production")
    assert first.status == "registered", first.error
    return home


@pytest.fixture
def established(established_home, tmp_path) -> Backend:
    home = tmp_path / "home"
    shutil.copytree(established_home, home)
    return local_backend(Settings(home=home))


def test_the_corpus_covers_every_kind_of_fault():
    files = {p.name for p in CORPUS.glob("*.csv")}
    assert files == set(EXPECTED)
    kinds = {check for e in EXPECTED.values() for check in e["checks"]}
    assert {
        "missing_column",
        "unexpected_column",
        "type_mismatch",
        "non_finite",
        "empty_file",
        "no_rows",
        "duplicate_rows",
        "encoding",
        "value_overflow",
        "file_too_large",
    } <= kinds


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_bad_file_is_quarantined_with_a_report_and_registers_nothing(established, name):
    backend = established
    data = (CORPUS / name).read_bytes()
    backend.data.put(f"incoming/{name}", data)
    before = backend.registry.versions(MODEL)
    result = LocalPipeline(backend).run(MODEL, f"incoming/{name}")

    assert (result.status, result.error_type) == ("failed", "DataValidationError")
    assert backend.registry.versions(MODEL) == before
    assert backend.registry.current(MODEL, "production").version == 1
    assert backend.data.keys("incoming/") == []
    quarantined = [k for k in backend.data.keys(f"quarantine/{MODEL}/") if k.endswith(name)]
    assert len(quarantined) == 1
    assert backend.data.get(quarantined[0]) == data  # byte for byte: nothing lost
    report = json.loads(backend.data.get(quarantined[0] + ".report.json"))
    assert report["passed"] is False and report["sha256"]
    found = {issue["check"] for issue in report["issues"] if issue["severity"] == "error"}
    assert set(EXPECTED[name]["checks"]) <= found, (name, report["issues"])
    for issue in report["issues"]:
        assert issue["message"]
