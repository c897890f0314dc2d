"""The workflows, checked offline: GitHub's schema, and our own rules (tests/workflows/lint.py).
The broken sample proves the checks fail when they should."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .lint import load, mlops_commands, promotion_order, workflow_problems

WORKFLOWS = sorted((Path(__file__).resolve().parents[2] / ".github" / "workflows").glob("*.yml"))
BROKEN = Path(__file__).with_name("samples") / "broken.yml"
INJECTABLE = Path(__file__).with_name("samples") / "injectable.yml"


def schema_check(*paths: Path) -> subprocess.CompletedProcess[str]:
    local = Path(sys.executable).with_name("check-jsonschema")
    tool = str(local) if local.exists() else shutil.which("check-jsonschema")
    assert tool, "check-jsonschema is not installed: pip install -e '.[dev]'"
    return subprocess.run(
        [tool, "--builtin-schema", "vendor.github-workflows", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )


def zizmor(*paths: Path) -> subprocess.CompletedProcess[str]:
    local = Path(sys.executable).with_name("zizmor")
    tool = str(local) if local.exists() else shutil.which("zizmor")
    assert tool, "zizmor is not installed: pip install -e '.[dev]'"
    return subprocess.run(
        [tool, "--offline", "--min-severity", "low", "--format", "plain", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_zizmor_finds_nothing_above_informational():
    result = zizmor(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings" in result.stdout + result.stderr


def test_zizmor_flags_a_template_injection():
    result = zizmor(INJECTABLE)
    assert result.returncode != 0
    assert "template-injection" in result.stdout


def test_the_three_workflows_exist():
    names = {p.name for p in WORKFLOWS}
    assert {"ci.yml", "deploy.yml", "promote-model.yml"} <= names


def test_workflows_match_githubs_schema():
    result = schema_check(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_follows_our_rules(path):
    assert workflow_problems(path) == []


def test_deploys_go_dev_then_staging_then_prod():
    deploy = load(next(p for p in WORKFLOWS if p.name == "deploy.yml"))
    assert promotion_order(deploy) == ["dev", "staging", "prod"]
    for env in ("dev", "staging", "prod"):
        assert deploy["jobs"][env]["with"]["environment"] == env


def test_environment_jobs_run_in_their_github_environment_and_never_overlap():
    deploy_env = load(next(p for p in WORKFLOWS if p.name == "deploy-environment.yml"))
    job = deploy_env["jobs"]["deploy"]
    assert job["environment"] == "${{ inputs.environment }}"
    assert job["concurrency"]["group"] == "deploy-${{ inputs.environment }}"
    assert job["concurrency"]["cancel-in-progress"] is False
    promote = load(next(p for p in WORKFLOWS if p.name == "promote-model.yml"))
    assert promote["jobs"]["promote"]["needs"] == "export"
    assert promote["jobs"]["promote"]["environment"] == "${{ inputs.to }}"


def test_the_same_plan_is_applied():
    deploy_env = load(next(p for p in WORKFLOWS if p.name == "deploy-environment.yml"))
    runs = [str(s.get("run", "")) for s in deploy_env["jobs"]["deploy"]["steps"]]
    assert any("plan -input=false -out=tfplan" in r for r in runs)
    assert any(r.strip().endswith("apply -input=false tfplan") for r in runs)


def test_promotion_is_mlops_commands_with_a_rollback_on_failure():
    promote = load(next(p for p in WORKFLOWS if p.name == "promote-model.yml"))
    commands = [" ".join(c[:2]) for c in mlops_commands(promote)]
    for expected in (
        "registry check",
        "registry export",
        "registry import",
        "smoke --url",
        "rollback --stage",
    ):
        assert any(c.startswith(expected) for c in commands), expected
    rollback = promote["jobs"]["promote"]["steps"][-1]
    assert rollback["if"] == "failure() && steps.promote.outcome == 'success'"


def test_the_checks_catch_a_broken_workflow():
    assert schema_check(BROKEN).returncode != 0
    problems = workflow_problems(BROKEN)
    expected = [
        "long-lived AWS keys",
        "workflow-level permissions grant writes",
        "`actions/checkout@v4` is not pinned",
        "AWS credentials without role-to-assume",
        "assumes an AWS role without id-token: write",
        "`mlops deploy-everything` is not a command",
        "`mlops promote` has no option --stage",
    ]
    for fragment in expected:
        assert any(fragment in p for p in problems), (fragment, problems)
