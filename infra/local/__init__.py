"""Local adapters: files for blobs, SQLite for the registry and predictions, JSON lines for
metrics, an HMAC key for export signatures; all under MLOPS_HOME. Imports only the core's ports,
records, registry rules and settings."""

from __future__ import annotations

from mlops_template.core.backend import Backend
from mlops_template.core.registry import Registry, RegistryOutOfStep
from mlops_template.core.settings import Settings
from mlops_template.infra.local.blobstore import FileBlobStore
from mlops_template.infra.local.metrics import JsonlMetricsSink
from mlops_template.infra.local.predictions import FilePredictionLog
from mlops_template.infra.local.registry import SqliteRegistry
from mlops_template.infra.local.signing import KeyFileSigner


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
        predictions=FilePredictionLog(home),
        signer=KeyFileSigner(
            settings.export_signing_key,
            home / "export-signing.key",
            settings.trusted_export_key_list,
        ),
        name="local",
    )
