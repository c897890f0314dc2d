"""Dependency changes notify: Dependabot for every ecosystem the project pins, and a scheduled
audit that fails when it cannot audit."""

from __future__ import annotations

from pathlib import Path

import yaml

from .lint import load
from .test_workflows import zizmor

GITHUB = Path(__file__).resolve().parents[2] / ".github"


def test_dependabot_watches_pip_actions_and_terraform():
    config = yaml.safe_load((GITHUB / "dependabot.yml").read_text())
    ecosystems = {u["package-ecosystem"] for u in config["updates"]}
    assert {"pip", "github-actions", "terraform"} <= ecosystems
    assert zizmor(GITHUB / "dependabot.yml").returncode == 0


def test_the_audit_runs_on_a_schedule_and_is_strict():
    workflow = load(GITHUB / "workflows" / "dependency-audit.yml")
    assert workflow["on"]["schedule"]
    scripts = [s.get("run", "") for job in workflow["jobs"].values() for s in job["steps"]]
    audit = [line for script in scripts for line in script.splitlines() if "pip-audit " in line]
    assert any("--strict" in line for line in audit), audit
