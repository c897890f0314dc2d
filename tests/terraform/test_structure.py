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

from .conftest import (
    ENVIRONMENT,
    ENVS,
    MODULES,
    TERRAFORM,
    blocks,
    environment_inputs,
    first,
    parse,
    tfvars,
    variables,
)

MODULE_FILES = {"main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"}


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
    """One root, one state per environment: the root's partial backend block turns encryption and
    locking on for all; each <env>.s3.tfbackend gives only its own key (the keys of the former
    terraform/envs/<env> roots, so their states carry over as they are)."""
    block = first(parse(ENVIRONMENT / "versions.tf")["terraform"][0]["backend"])["s3"]
    assert block["use_lockfile"] is True and block["encrypt"] is True
    assert "key" not in block  # no shared default state to fall back on
    assert sorted(p.name for p in ENVIRONMENT.glob("*.tfbackend")) == sorted(
        f"{env}.s3.tfbackend" for env in ENVS
    )
    keys = {}
    for env in ENVS:
        settings = parse(ENVIRONMENT / f"{env}.s3.tfbackend")
        assert set(settings) == {"key"}, f"{env}: a backend file sets only its key"
        keys[env] = {**block, **settings}["key"]
    assert keys == {env: f"{env}/terraform.tfstate" for env in ENVS}


def test_environment_is_a_validated_variable_every_tfvars_sets():
    declared = variables(ENVIRONMENT / "variables.tf")
    validation = first(declared["environment"]["validation"])
    allowed = re.fullmatch(r"\$\{contains\(\[(.*)\], var\.environment\)\}", validation["condition"])
    assert allowed and re.findall(r'"(\w+)"', allowed.group(1)) == list(ENVS)
    assert "default" not in declared["environment"]  # no environment unless a tfvars names one
    # Only the environments' own files: a terraform.tfvars or *.auto.tfvars would be loaded
    # for every environment behind their backs.
    assert sorted(p.name for p in ENVIRONMENT.glob("*.tfvars")) == sorted(
        f"{env}.tfvars" for env in ENVS
    )
    required = {name for name, body in declared.items() if "default" not in body}
    for env in ENVS:
        values = tfvars(env)
        assert values["environment"] == env
        assert set(values) <= set(declared), f"{env}.tfvars sets unknown variables"
        # training_image_uri is the image the deploy workflow has just pushed.
        assert required - {"training_image_uri"} <= set(values), env


def test_environments_differ_only_in_values():
    """The root passes each of its variables to the stack unchanged: nothing per environment is
    written in the root, so environments differ only in their tfvars."""
    main = parse(ENVIRONMENT / "main.tf")
    stack = main["module"][0]["stack"]
    assert first(stack["source"]) == "../modules/stack"
    arguments = {k: first(v) for k, v in stack.items() if k != "source"}
    assert arguments == {name: f"${{var.{name}}}" for name in arguments}
    provider_only = {"region", "repository"}
    assert set(arguments) | provider_only == set(variables(ENVIRONMENT / "variables.tf"))
    assert set(arguments) <= set(variables(MODULES / "stack" / "variables.tf"))


# What each environment deployed as its own root (terraform/envs/<env>/terraform.tfvars over the
# shared defaults); the single root must give each the same.
FORMER_ROOTS = {
    "dev": {
        "auto_promote_stage": "staging",
        "capture_sample_rate": 1.0,
        "inference_provisioned_concurrency": 0,
        "force_destroy": True,
        "deletion_protection": False,
        "trusted_export_environments": [],
    },
    "staging": {
        "auto_promote_stage": "",
        "capture_sample_rate": 0.5,
        "inference_provisioned_concurrency": 0,
        "force_destroy": False,
        "deletion_protection": True,
        "trusted_export_environments": ["dev"],
    },
    "prod": {
        "auto_promote_stage": "",
        "capture_sample_rate": 0.1,
        "inference_provisioned_concurrency": 2,
        "force_destroy": False,
        "deletion_protection": True,
        "trusted_export_environments": ["dev", "staging"],
    },
}


@pytest.mark.parametrize("env", ENVS)
def test_each_environment_keeps_the_settings_of_its_former_root(env):
    inputs = environment_inputs(env)
    assert {k: inputs[k] for k in FORMER_ROOTS[env]} == FORMER_ROOTS[env]
    shared = {
        "model_name": "breast-cancer",
        "region": "eu-west-1",
        "project": "mlops",
        "api_type": "http",
        "api_auth": "iam",
        "training_mode": "auto",
        "inference_snapstart": False,
        "notification_emails": [],
        "inference_zip_path": "../../dist/inference-x86_64.zip",  # from terraform/environment
    }
    assert {k: inputs[k] for k in shared} == shared
    # Each environment imports only what the environments before it export.
    assert inputs["trusted_export_environments"] == list(ENVS[: ENVS.index(env)])


def test_a_state_refuses_another_environments_values():
    """terraform_data.environment keeps the environment its state was created for (its input is
    not updated) and fails the plan when the tfvars name another one: dev's values planned on
    prod's state (or the reverse) stop there instead of replacing one stack with the other."""
    guard = blocks(parse(ENVIRONMENT / "main.tf"), "resource")["terraform_data.environment"]
    assert first(guard["input"]) == "${var.environment}"
    lifecycle = first(guard["lifecycle"])
    assert lifecycle["ignore_changes"] == ["input"]
    postcondition = first(lifecycle["postcondition"])
    assert postcondition["condition"] == "${self.output == var.environment}"


def test_environments_tag_everything():
    provider = parse(ENVIRONMENT / "main.tf")["provider"][0]["aws"]
    tags = first(first(provider["default_tags"])["tags"])
    assert {"project", "environment", "managed_by", "repository"} <= set(tags)
    assert tags["environment"] == "${var.environment}"  # each environment's resources say which


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
