"""`mlops readiness`: the ML Test Score read from facts. Each mechanism removed from a copy of
the repository drops its own row, and only that row."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from mlops_template.core.pipeline import LocalPipeline, PipelineSteps
from mlops_template.tooling.readiness import RUBRIC, SECTIONS
from mlops_template.training.config import TrainingConfig
from mlops_template.training.datasets import TARGET

from .conftest import MODEL

ROOT = Path(__file__).resolve().parents[2]
COPIED = ("terraform/modules/monitoring", ".github", "tests", ".ci", "functions", "pyproject.toml")

# The rows whose mechanisms this repository holds without a person's config.
HELD = {
    "D1", "D5", "D6", "M2", "I1", "I2", "I3", "I4", "I5", "I7",
    "N1", "N2", "N3", "N4", "N5", "N6", "N7",
}  # fmt: skip


def key(row: dict) -> str:
    return ("N" if row["section"] == "Monitoring" else row["section"][0]) + str(row["number"])


@pytest.fixture
def deployed(backend, csv_bytes):
    PipelineSteps(backend).save_config(TrainingConfig(model_name=MODEL, target=TARGET))
    backend.data.put("incoming/day1.csv", csv_bytes)
    result = LocalPipeline(backend).run(MODEL, "incoming/day1.csv", auto_promote="production")
    assert result.status == "registered", result.error
    return backend


@pytest.fixture
def repo(tmp_path) -> Path:
    copy = tmp_path / "repo"
    for part in COPIED:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (copy / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, copy / part)
    return copy


def score(run, repo: Path) -> dict:
    result = run("readiness", "--repo", str(repo), "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_the_table_has_the_rubrics_28_tests_each_held_by_a_test_in_the_repository(
    run, deployed, repo
):
    report = score(run, repo)
    assert [(r["section"], r["number"]) for r in report["rows"]] == [
        (s, n) for s in SECTIONS for n in range(1, 8)
    ]
    for row in report["rows"]:
        assert (ROOT / row["holds"]).is_file(), row["holds"]
    sections = {s: sum(r["score"] for r in report["rows"] if r["section"] == s) for s in SECTIONS}
    assert report["sections"] == sections and report["final"] == min(sections.values())
    held = {key(r) for r in report["rows"] if r["score"] == 1}
    assert held >= HELD, HELD - held


def _drop_alarm(repo: Path, name: str) -> None:
    path = repo / "terraform/modules/monitoring/main.tf"
    text = path.read_text()
    block = re.compile(rf'resource "aws_cloudwatch_metric_alarm" "{name}" \{{.*?\n\}}\n', re.S)
    assert block.search(text), name
    path.write_text(block.sub("", text))


REMOVALS = {
    "N4": lambda repo: _drop_alarm(repo, "model_age"),
    "N3": lambda repo: _drop_alarm(repo, "training_serving_skew"),
    "M2": lambda repo: _drop_alarm(repo, "offline_online_gap"),
    "N5": lambda repo: _drop_alarm(repo, "non_finite_outputs"),
    "N7": lambda repo: _drop_alarm(repo, "accuracy"),
    "N1": lambda repo: (repo / ".github/dependabot.yml").unlink(),
    "N6": lambda repo: (repo / "tests/benchmarks/ratios.json").unlink(),
    "I1": lambda repo: (repo / "tests/integration/test_reproducibility.py").unlink(),
    "I3": lambda repo: (repo / "tests/e2e/test_pipeline_on_step_functions.py").unlink(),
}


@pytest.mark.parametrize("row", sorted(REMOVALS))
def test_removing_a_mechanism_drops_its_row_and_no_other(run, deployed, repo, row):
    before = {key(r): r["score"] for r in score(run, repo)["rows"]}
    assert before[row] == 1
    REMOVALS[row](repo)
    after = {key(r): r["score"] for r in score(run, repo)["rows"]}
    assert after[row] == 0
    assert {k: v for k, v in after.items() if k != row} == {
        k: v for k, v in before.items() if k != row
    }


def test_every_row_has_a_probe_and_names_its_test():
    assert len(RUBRIC) == 28
    assert len({(r.section, r.number) for r in RUBRIC}) == 28
    assert all(r.holds.startswith("tests/") for r in RUBRIC)
