"""Lint, format and type checks run as tests, so the one test command is the whole CI gate."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def tool(name: str) -> str:
    local = Path(sys.executable).with_name(name)
    found = str(local) if local.exists() else shutil.which(name)
    assert found, f"{name} is not installed: pip install -e '.[dev]'"
    return found


def namespace_tree() -> Path:
    """The installed package's shape, as links to the folders it is built from (pyproject's
    package-dir), in mypy's cache folder: mypy reads this tree, as it cannot follow the
    editable install's import hook, and the stable path keeps its cache warm."""
    package_dirs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-dir"
    ]
    tree = ROOT / ".mypy_cache" / "tree"
    for name, folder in package_dirs.items():
        link = tree.joinpath(*name.split("."))
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            link.symlink_to(ROOT / folder, target_is_directory=True)
    return tree


@pytest.mark.parametrize(
    "command",
    [["ruff", "check", "."], ["ruff", "format", "--check", "."], ["mypy", "-p", "mlops_template"]],
    ids=["ruff-lint", "ruff-format", "mypy"],
)
def test_static_check_passes(command):
    env = {**os.environ, "MYPYPATH": str(namespace_tree())} if command[0] == "mypy" else None
    result = subprocess.run(
        [tool(command[0]), *command[1:]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env=env,
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
