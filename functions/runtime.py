"""What every handler shares: settings, the Powertools logger, and the backend, built once per
Lambda container (outside the handler, so warm invocations reuse clients)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from infra.backend import Backend, build_backend
from infra.ports import PipelineStarter, TrainingLauncher
from infra.settings import Settings, get_settings

if TYPE_CHECKING:
    from infra.alarms import NotAnAlarmError
    from infra.pipeline import PipelineSteps

# Service name and log level come from POWERTOOLS_* variables set by Terraform.
logger = Logger()


def settings() -> Settings:
    return get_settings()


@lru_cache(maxsize=1)
def backend() -> Backend:
    return build_backend(settings())


def steps() -> PipelineSteps:
    from infra.pipeline import PipelineSteps  # not on the inference path: kept out of its import

    return PipelineSteps(backend())


def pipeline_starter() -> PipelineStarter:
    if settings().backend == "aws":
        from infra.aws.stepfunctions import StepFunctionsPipelineStarter

        return StepFunctionsPipelineStarter(settings().state_machine_arn)
    from infra.local.starter import LocalPipelineStarter

    return LocalPipelineStarter(backend())


def training_launcher() -> TrainingLauncher:
    from infra.aws.sagemaker import SageMakerTrainingLauncher, launcher_options

    return SageMakerTrainingLauncher(**launcher_options(settings()))


def not_an_alarm(error: NotAnAlarmError) -> dict[str, Any]:
    """The answer of an alarm handler to an event that holds no alarm: logged with the reason
    and returned, not raised, because a retry of the same event could never succeed."""
    logger.error("not an alarm notification, ignored", extra={"reason": str(error)})
    return {"reactions": [], "rejected": str(error)}


def reset() -> None:
    """Forget cached settings and clients (tests switch environments between cases)."""
    get_settings.cache_clear()
    backend.cache_clear()
    from infra.aws.clients import client

    client.cache_clear()
