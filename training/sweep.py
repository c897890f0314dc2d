"""A hyperparameter sweep: which model sections to try, read from a TOML (or JSON) file.

```toml
method = "grid"          # or "random"
trials = 6               # random: how many to draw (default: the whole grid); grid: ignored
seed = 0                 # random draws are reproducible
[[search]]
algorithm = "random_forest"
params = { n_estimators = [50, 100], max_depth = [4, 8] }
[[search]]
algorithm = "hist_gradient_boosting"
params = { learning_rate = [0.05, 0.1] }
```

The grid is each block's cartesian product (parameters in the order written, the last varying
fastest), blocks in order; a random sweep is a seeded sample of that grid without replacement,
in the order drawn. Either way the same file gives the same ordered list of `ModelConfig`s.
"""

from __future__ import annotations

import itertools
import json
import random
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlops_template.training.config import Algorithm, ConfigError, ModelConfig, one_line


class SweepBlock(BaseModel):
    """One algorithm and, for each hyperparameter, the values to try (a single value: fixed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    algorithm: Algorithm
    params: dict[str, list[Any]] = Field(default_factory=dict)

    @field_validator("params", mode="before")
    @classmethod
    def _listed(cls, params: Any) -> Any:
        if not isinstance(params, dict):
            return params
        return {k: v if isinstance(v, list) else [v] for k, v in params.items()}

    @model_validator(mode="after")
    def _known_and_non_empty(self) -> SweepBlock:
        empty = [name for name, values in self.params.items() if not values]
        if empty:
            raise ValueError(f"params.{empty[0]} is an empty list: give at least one value")
        # The estimator's own constructor names the parameters it takes (values are checked
        # when it is fitted): a misspelt one fails here, before any trial has run.
        from mlops_template.training.features import make_estimator

        first = {name: values[0] for name, values in self.params.items()}
        try:
            make_estimator(ModelConfig(algorithm=self.algorithm, params=first), seed=0)
        except ConfigError as exc:
            raise ValueError(str(exc).removeprefix("model.")) from None
        return self

    def configs(self) -> list[ModelConfig]:
        names = list(self.params)
        return [
            ModelConfig(algorithm=self.algorithm, params=dict(zip(names, values, strict=True)))
            for values in itertools.product(*self.params.values())
        ]


class SweepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["grid", "random"] = "grid"
    trials: int | None = Field(
        default=None, ge=1, description="Random: how many to draw (default: all). Grid: ignored."
    )
    seed: int = 0
    search: list[SweepBlock] = Field(min_length=1)

    @model_validator(mode="after")
    def _enough_to_draw(self) -> SweepSpec:
        size = len(self.grid())
        if self.method == "random" and self.trials is not None and self.trials > size:
            raise ValueError(
                f"trials: {self.trials} is more than the grid's {size} (a random sweep draws "
                "each configuration at most once)"
            )
        return self

    def grid(self) -> list[ModelConfig]:
        return [config for block in self.search for config in block.configs()]

    def configs(self, max_trials: int | None = None) -> list[ModelConfig]:
        """The trials in order: the grid, or a seeded draw from it; at most `max_trials`."""
        grid = self.grid()
        if self.method == "random":
            grid = random.Random(self.seed).sample(grid, self.trials or len(grid))
        return grid if max_trials is None else grid[:max_trials]


def parse_sweep(data: dict[str, Any], source: str = "sweep") -> SweepSpec:
    try:
        return SweepSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source} is invalid: {one_line(exc)}") from exc


def load_sweep(path: str | Path) -> SweepSpec:
    """The sweep in a TOML (or, by its suffix, JSON) file; ConfigError in one line if bad."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read sweep {path}: {exc.strerror}") from exc
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        kind = "JSON" if path.suffix == ".json" else "TOML"
        raise ConfigError(f"sweep {path} is not valid {kind}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"sweep {path} is not a table of settings")
    return parse_sweep(data, source=f"sweep {path}")
