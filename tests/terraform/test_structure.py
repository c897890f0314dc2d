"""Every module reads from its variables and outputs alone; environments differ only in values."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from .conftest import MODULES, TERRAFORM, first, parse

MODULE_FILES = {"main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"}
ENVS = ("dev", "staging", "prod")


def test_terraform_files_are_formatted(terraform_fmt):
    result = subprocess.run(
        [str(terraform_fmt), "fmt", "-check", "-recursive", "-diff", str(TERRAFORM)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def installed_closure(requirements: list[str]) -> list[importlib.metadata.Distribution]:
    """The installed distributions these requirements bring in, their own requirements included
    (with the extras asked for)."""
    found: dict[str, importlib.metadata.Distribution] = {}
    pending = [Requirement(text) for text in requirements]
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in found:
            continue
        try:
            found[name] = dist = importlib.metadata.distribution(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            continue  # not installed here (another platform's marker): brings no script
        extras = requirement.extras or {""}
        for text in dist.requires or []:
            child = Requirement(text)
            if child.marker is None or any(child.marker.evaluate({"extra": e}) for e in extras):
                pending.append(child)
    return list(found.values())


def test_the_dev_install_puts_no_terraform_on_path():
    """`pip install -e '.[dev]'` must leave the user's Terraform first on PATH: a `terraform`
    script in the venv would shadow it for terraform/README.md's commands."""
    project = tomllib.loads((TERRAFORM.parent / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["dev"]
    shadowing = [
        f"{dist.metadata['Name']} installs a `{script.name}` script"
        for dist in installed_closure(requirements)
        for script in dist.entry_points.select(group="console_scripts")
        if script.name in {"terraform", "tofu"}
    ]
    assert not shadowing, shadowing


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


# `data.aws_region.<name>.name` is deprecated in AWS provider 6, which adds `.region` in its place.
DEPRECATED_REGION_NAME = re.compile(r"data\.aws_region\.\w+\.name\b")


def test_no_deprecated_region_attribute(all_tf_files):
    uses = [
        f"{path.relative_to(TERRAFORM)}:{number}"
        for path in all_tf_files
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if DEPRECATED_REGION_NAME.search(line)
    ]
    assert not uses, f"use data.aws_region.<name>.region (AWS provider 6): {uses}"


def test_every_root_and_module_requires_aws_provider_6(all_tf_files):
    """`.region` of aws_region exists from provider 6.0 on: older ones must be refused."""
    constraints = {
        str(path.relative_to(TERRAFORM)): first(first(providers["aws"])["version"])
        for path in all_tf_files
        if path.name == "versions.tf"
        for block in parse(path)["terraform"]
        for providers in block.get("required_providers", [])
    }
    assert len(constraints) == len(list(TERRAFORM.rglob("versions.tf")))
    for where, constraint in constraints.items():
        allowed = SpecifierSet(constraint)  # Terraform's ">= 6.0, < 7.0" reads the same way
        assert "6.0.0" in allowed and "5.100.0" not in allowed, f"{where}: {constraint}"
