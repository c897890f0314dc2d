"""Terraform, read offline: python-hcl2 parses every file; no provider is downloaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hcl2
import pytest

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
