"""Numbered versions of a model's data contract: adding a feature is one `mlops schema infer
--save`, which stores the new schema as the next version and says what changed.

The current contract stays at `schemas/<model>.json` (what validation reads); every saved one is
also kept as `schemas/<model>/v<N>.json`, so the history of the contract is listed from the store.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from mlops_template.core.backend import Backend
from mlops_template.core.pipeline import PipelineSteps
from mlops_template.training.schema import DatasetSchema

JSON = "application/json"
_VERSION = re.compile(r"/v(\d+)\.json$")


def schema_versions_prefix(model: str) -> str:
    return f"schemas/{model}/"


def schema_version_key(model: str, version: int) -> str:
    return f"{schema_versions_prefix(model)}v{version}.json"


class SchemaChange(BaseModel):
    model: str
    version: int = Field(description="The version just saved (1 for the first).")
    previous: int | None = None
    added: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    changed: bool = True

    def summary(self) -> str:
        if not self.changed:
            return f"schema of {self.model} unchanged: still v{self.version}"
        parts = [f"schema of {self.model} is now v{self.version}"]
        if self.previous is not None:
            parts.append(f"(was v{self.previous})")
        if self.added:
            parts.append(f"added {', '.join(self.added)}")
        if self.removed:
            parts.append(f"removed {', '.join(self.removed)}")
        return " ".join(parts)


def schema_version(backend: Backend, model: str) -> int:
    """The newest saved version number; 1 when a contract exists from before versions were kept
    (a pipeline-inferred first schema), 0 when there is none."""
    numbers = [
        int(m.group(1))
        for key in backend.data.keys(schema_versions_prefix(model))
        if (m := _VERSION.search(key))
    ]
    if numbers:
        return max(numbers)
    return 1 if PipelineSteps(backend).load_schema(model) is not None else 0


def save_schema_version(backend: Backend, model: str, schema: DatasetSchema) -> SchemaChange:
    steps = PipelineSteps(backend)
    current = steps.load_schema(model)
    previous = schema_version(backend, model)
    if current is not None and current.fingerprint() == schema.fingerprint():
        return SchemaChange(model=model, version=previous, changed=False)
    if (
        current is not None
        and previous == 1
        and not backend.data.exists(schema_version_key(model, 1))
    ):  # keep the unversioned first contract as v1 before it is replaced
        backend.data.put(
            schema_version_key(model, 1), current.to_json().encode(), content_type=JSON
        )
    version = previous + 1
    backend.data.put(
        schema_version_key(model, version), schema.to_json().encode(), content_type=JSON
    )
    steps.save_schema(model, schema)
    old = set(current.feature_names) if current else set()
    new = set(schema.feature_names)
    return SchemaChange(
        model=model,
        version=version,
        previous=previous or None,
        added=sorted(new - old) if current else [],
        removed=sorted(old - new),
    )
