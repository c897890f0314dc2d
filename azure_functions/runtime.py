"""What every function shares: settings and the backend, built once per worker process."""

from __future__ import annotations

from functools import lru_cache

from mlops_template.core.backend import Backend
from mlops_template.core.chain import StepQueues
from mlops_template.core.ports import PipelineStarter
from mlops_template.core.settings import Settings, get_settings
from mlops_template.infra import build_backend, build_pipeline_starter, build_step_queues


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


def reset() -> None:
    """Forget cached settings and clients (tests switch accounts between cases)."""
    get_settings.cache_clear()
    backend.cache_clear()
    step_queues.cache_clear()
