"""Lint, format and type checks run as tests, so the one test command is the whole CI gate."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def tool(name: str) -> str:
    local = Path(sys.executable).with_name(name)
    found = str(local) if local.exists() else shutil.which(name)
    assert found, f"{name} is not installed: pip install -e '.[dev]'"
    return found


@pytest.mark.parametrize(
    "command",
    [["ruff", "check", "."], ["ruff", "format", "--check", "."], ["mypy"]],
    ids=["ruff-lint", "ruff-format", "mypy"],
)
def test_static_check_passes(command):
    result = subprocess.run(
        [tool(command[0]), *command[1:]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


# Folders that tools run by the tests leave in the working tree (schemathesis, hypothesis,
# pytest, mypy, ruff): none may show up as a change to commit.
TOOL_FOLDERS = (".schemathesis", ".hypothesis", ".pytest_cache", ".mypy_cache", ".ruff_cache")


def test_folders_the_test_tools_leave_are_ignored():
    if not (ROOT / ".git").exists() or not shutil.which("git"):
        pytest.skip("not a git checkout")
    paths = [f"{folder}/anything" for folder in TOOL_FOLDERS]
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", *paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert set(result.stdout.split()) == set(paths), result.stdout + result.stderr
