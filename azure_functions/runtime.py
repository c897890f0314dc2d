"""What every function shares: settings and the backend, built once per worker process."""

from __future__ import annotations

from functools import lru_cache

from mlops_template.core.backend import Backend
from mlops_template.core.chain import RemoteTraining, StepQueues
from mlops_template.core.ports import PipelineStarter, TrainingLauncher
from mlops_template.core.settings import Settings, get_settings
from mlops_template.infra import (
    build_backend,
    build_pipeline_starter,
    build_step_queues,
    build_training_launcher,
)


def settings() -> Settings:
    return get_settings()


@lru_cache(maxsize=1)
def backend() -> Backend:
    return build_backend(settings())


@lru_cache(maxsize=1)
def step_queues() -> StepQueues:
    return build_step_queues(settings())


def pipeline_starter() -> PipelineStarter:
    return build_pipeline_starter(settings(), backend())


# The Azure ML job client's stand-in where there is no workspace to reach (the emulated demo
# and the tests): tooling/azure_emulation.py runs the jobs in-process.
_ml_client: list[object] = []


def use_ml_client(client: object | None) -> None:
    _ml_client[:] = [] if client is None else [client]
    training_launcher.cache_clear()


@lru_cache(maxsize=1)
def training_launcher() -> TrainingLauncher:
    return build_training_launcher(settings(), client=_ml_client[0] if _ml_client else None)


def remote_training() -> RemoteTraining | None:
    """Where files over the size limit train: an Azure ML workspace when one is named (or
    training_mode forces remote, which then names what is missing); None: all train here."""
    s = settings()
    if not s.azureml_workspace and s.training_mode not in ("remote", "sagemaker"):
        return None
    return RemoteTraining(launcher=training_launcher, settings=s)


def reset() -> None:
    """Forget cached settings and clients (tests switch accounts between cases)."""
    get_settings.cache_clear()
    backend.cache_clear()
    step_queues.cache_clear()
    training_launcher.cache_clear()
