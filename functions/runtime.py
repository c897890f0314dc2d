"""What every handler shares: settings, the Powertools logger, and the backend, built once per
Lambda container (outside the handler, so warm invocations reuse clients)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from mlops_template.core.backend import Backend
from mlops_template.core.ports import PipelineStarter, TrainingLauncher
from mlops_template.core.settings import Settings, get_settings
from mlops_template.infra import (
    build_backend,
    build_pipeline_starter,
    build_training_launcher,
    forget_clients,
)

if TYPE_CHECKING:
    from mlops_template.core.alarms import NotAnAlarmError
    from mlops_template.core.pipeline import PipelineSteps

# Service name and log level come from POWERTOOLS_* variables set by Terraform.
logger = Logger()


def settings() -> Settings:
    return get_settings()


@lru_cache(maxsize=1)
def backend() -> Backend:
    return build_backend(settings())


def steps() -> PipelineSteps:
    from mlops_template.core.pipeline import (
        PipelineSteps,  # not on the inference path: kept out of its import
    )

    return PipelineSteps(backend())


def pipeline_starter() -> PipelineStarter:
    return build_pipeline_starter(settings(), backend())


def training_launcher() -> TrainingLauncher:
    return build_training_launcher(settings())


def not_an_alarm(error: NotAnAlarmError) -> dict[str, Any]:
    """The answer of an alarm handler to an event that holds no alarm: logged with the reason
    and returned, not raised, because a retry of the same event could never succeed."""
    logger.error("not an alarm notification, ignored", extra={"reason": str(error)})
    return {"reactions": [], "rejected": str(error)}


def reset() -> None:
    """Forget cached settings and clients (tests switch environments between cases)."""
    get_settings.cache_clear()
    backend.cache_clear()
    forget_clients()
