"""Feature definitions, declared once in the model's repository as plain objects (Feast's
shape: an `Entity` with a join key, a `FeatureView` with typed features, a source, event and
created time fields, a TTL and an optional transform).

A definition is data you can hash, diff and review: its version is the SHA-256 of its canonical
JSON (the transform counts by its name and the hash of its source code), so changing a feature,
the TTL or the transform's code makes a new version, and old training sets, which name the
versions they were built from, stay reproducible.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

Dtype = Literal["float64", "int64", "string", "bool"]
DTYPES: tuple[str, ...] = ("float64", "int64", "string", "bool")

# Columns the stores keep beside the features: a feature may not take one of these names.
RESERVED = frozenset(
    {
        "pk",
        "entity",
        "view",
        "version",
        "event_ms",
        "created_ms",
        "write_ms",
        "is_deleted",
        "deleted",
        "expires_at",
        "event_timestamp",
    }
)
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")

Transform = Callable[[Mapping[str, Any]], Mapping[str, Any]]
"""A source row in, the view's feature values out: one function, used by batch and stream
ingest alike (pure Python, no pandas: it runs in the streaming function too)."""


class DefinitionError(ValueError):
    """A definition that cannot be used (bad name, unknown type, duplicate feature...)."""


def _name(kind: str, value: str) -> str:
    if not NAME.match(value):
        raise DefinitionError(f"{kind} name {value!r}: letters, digits and _, 1-64 characters")
    return value


@dataclass(frozen=True)
class Entity:
    name: str
    join_key: str
    description: str = ""

    def __post_init__(self) -> None:
        _name("entity", self.name)
        _name("join key", self.join_key)


@dataclass(frozen=True)
class Feature:
    name: str
    dtype: Dtype = "float64"

    def __post_init__(self) -> None:
        _name("feature", self.name)
        if self.name in RESERVED:
            raise DefinitionError(f"feature name {self.name!r} is reserved by the stores")
        if self.dtype not in DTYPES:
            raise DefinitionError(f"feature {self.name}: dtype {self.dtype!r} not in {DTYPES}")


@dataclass(frozen=True)
class FileSource:
    """Where a view's rows come from: a file (CSV or Parquet) given to `mlops features ingest`,
    or records on the stream. `event_time` is when the value became true; `created_time`, when
    it was written at the source (it breaks ties between rows of one event time)."""

    path: str = ""
    event_time: str = "event_time"
    created_time: str | None = None


def _transform_identity(transform: Transform | None) -> dict[str, str] | None:
    if transform is None:
        return None
    name = f"{transform.__module__}:{transform.__qualname__}"
    try:
        source = inspect.getsource(transform)
    except (OSError, TypeError):  # defined where no source is kept: the name alone identifies it
        source = name
    return {"name": name, "sha256": hashlib.sha256(source.encode()).hexdigest()}


@dataclass(frozen=True)
class FeatureView:
    name: str
    entity: Entity
    features: tuple[Feature, ...]
    ttl: timedelta
    source: FileSource = field(default_factory=FileSource)
    transform: Transform | None = None
    description: str = ""

    def __post_init__(self) -> None:
        _name("feature view", self.name)
        object.__setattr__(self, "features", tuple(self.features))
        if not self.features:
            raise DefinitionError(f"feature view {self.name} has no features")
        names = [f.name for f in self.features]
        if len(set(names)) != len(names) or self.entity.join_key in names:
            raise DefinitionError(f"feature view {self.name}: feature names must be unique")
        if self.ttl <= timedelta(0):
            raise DefinitionError(f"feature view {self.name}: ttl must be positive")

    @property
    def ttl_ms(self) -> int:
        return int(self.ttl.total_seconds() * 1000)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def definition(self) -> dict[str, Any]:
        """The canonical form the version is the hash of (what `features show` prints)."""
        return {
            "name": self.name,
            "entity": {"name": self.entity.name, "join_key": self.entity.join_key},
            "features": [{"name": f.name, "dtype": f.dtype} for f in self.features],
            "ttl_seconds": self.ttl.total_seconds(),
            "source": {
                "path": self.source.path,
                "event_time": self.source.event_time,
                "created_time": self.source.created_time,
            },
            "transform": _transform_identity(self.transform),
        }

    @property
    def version(self) -> str:
        canonical = json.dumps(self.definition(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def spec(self) -> ViewSpec:
        return ViewSpec(
            name=self.name,
            version=self.version,
            join_key=self.entity.join_key,
            features=tuple((f.name, f.dtype) for f in self.features),
            ttl_ms=self.ttl_ms,
        )


@dataclass(frozen=True)
class ViewSpec:
    """What serving needs of a view (no transform: stored values are already transformed)."""

    name: str
    version: str
    join_key: str
    features: tuple[tuple[str, str], ...]
    ttl_ms: int

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "join_key": self.join_key,
            "features": [list(f) for f in self.features],
            "ttl_ms": self.ttl_ms,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ViewSpec:
        return cls(
            name=str(data["name"]),
            version=str(data["version"]),
            join_key=str(data["join_key"]),
            features=tuple((str(n), str(t)) for n, t in data["features"]),
            ttl_ms=int(data["ttl_ms"]),
        )


@dataclass(frozen=True)
class FeatureRepo:
    """The definitions of one repository: its entities and views, by name."""

    entities: dict[str, Entity]
    views: dict[str, FeatureView]

    @classmethod
    def of(cls, objects: Iterable[object]) -> FeatureRepo:
        entities: dict[str, Entity] = {}
        views: dict[str, FeatureView] = {}
        for obj in objects:
            if isinstance(obj, Entity):
                entities[obj.name] = obj
            elif isinstance(obj, FeatureView):
                if obj.name in views and views[obj.name] != obj:
                    raise DefinitionError(f"two feature views are named {obj.name}")
                views[obj.name] = obj
                entities.setdefault(obj.entity.name, obj.entity)
        return cls(entities=entities, views=views)

    def view(self, name: str) -> FeatureView:
        try:
            return self.views[name]
        except KeyError:
            known = ", ".join(sorted(self.views)) or "none"
            raise DefinitionError(f"no feature view {name!r} (defined: {known})") from None


def load_repo(path: str | Path) -> FeatureRepo:
    """The definitions a Python file declares at module level (Feast's scan of a repository):
    every `Entity` and `FeatureView` it holds."""
    path = Path(path)
    if not path.is_file():
        raise DefinitionError(f"no feature definitions file {path}")
    module_name = f"_mlops_features_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise DefinitionError(f"cannot load {path}")
    module: ModuleType = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # a transform's module must resolve for inspect
    spec.loader.exec_module(module)
    return FeatureRepo.of(vars(module).values())
