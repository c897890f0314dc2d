"""Wiring: which adapter serves each port, chosen by settings."""

from __future__ import annotations

from dataclasses import dataclass

from infra.local.blobstore import FileBlobStore
from infra.local.metrics import JsonlMetricsSink
from infra.local.predictions import SqlitePredictionLog
from infra.local.registry import SqliteRegistry
from infra.local.signing import HmacSigner
from infra.ports import BlobStore, ExportSigner, MetricsSink, PredictionLog
from infra.registry import Registry, RegistryOutOfStep
from infra.settings import Settings


@dataclass
class Backend:
    data: BlobStore
    artifacts: BlobStore
    registry: Registry
    metrics: MetricsSink
    predictions: PredictionLog
    signer: ExportSigner
    name: str = "local"


def local_backend(settings: Settings) -> Backend:
    home = settings.home.resolve()
    artifacts = FileBlobStore(home / "artifacts")
    registry_db = home / "registry.db"
    if not (registry_db.is_file() and registry_db.stat().st_size) and artifacts.keys("models/"):
        # A fresh registry here would number versions from 1 again, over the old versions' files.
        raise RegistryOutOfStep(
            f"{home} holds model artifacts but its registry {registry_db.name} is "
            f"{'empty' if registry_db.exists() else 'missing'}: restore it from a backup "
            "(nothing was changed)"
        )
    return Backend(
        data=FileBlobStore(home / "data"),
        artifacts=artifacts,
        registry=Registry(SqliteRegistry(registry_db), artifacts),
        metrics=JsonlMetricsSink(home / "metrics.jsonl"),
        predictions=SqlitePredictionLog(home / "predictions.db"),
        signer=HmacSigner(
            settings.export_signing_key,
            home / "export-signing.key",
            settings.trusted_export_key_list,
        ),
        name="local",
    )


def build_backend(settings: Settings) -> Backend:
    if settings.backend == "aws":
        from infra.aws import aws_backend

        return aws_backend(settings)
    if settings.backend == "azure":
        from infra.azure import azure_backend

        return azure_backend(settings)
    return local_backend(settings)
