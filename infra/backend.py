"""Wiring: which adapter serves each port, chosen by settings."""

from __future__ import annotations

from dataclasses import dataclass

from infra.local.blobstore import FileBlobStore
from infra.local.metrics import JsonlMetricsSink
from infra.local.predictions import SqlitePredictionLog
from infra.local.registry import SqliteRegistry
from infra.ports import BlobStore, MetricsSink, PredictionLog
from infra.registry import Registry
from infra.settings import Settings


@dataclass
class Backend:
    data: BlobStore
    artifacts: BlobStore
    registry: Registry
    metrics: MetricsSink
    predictions: PredictionLog
    name: str = "local"


def local_backend(settings: Settings) -> Backend:
    home = settings.home.resolve()
    return Backend(
        data=FileBlobStore(home / "data"),
        artifacts=FileBlobStore(home / "artifacts"),
        registry=Registry(SqliteRegistry(home / "registry.db")),
        metrics=JsonlMetricsSink(home / "metrics.jsonl"),
        predictions=SqlitePredictionLog(home / "predictions.db"),
        name="local",
    )


def build_backend(settings: Settings) -> Backend:
    if settings.backend == "aws":
        from infra.aws import aws_backend

        return aws_backend(settings)
    return local_backend(settings)
