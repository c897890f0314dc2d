"""Options more than one command module takes (tooling/cli.py, tooling/abtest_cli.py)."""

from __future__ import annotations

from typing import Annotated

import typer


def valid_model_name(name: str | None) -> str | None:
    from mlops_template.training.config import check_model_name

    try:
        return None if name is None else check_model_name(name)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        callback=valid_model_name,
        help="Model name: lowercase letters, digits and hyphens (default: MLOPS_MODEL_NAME, "
        'else the --config file\'s model_name, else "model").',
    ),
]
