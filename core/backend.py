"""The ports one deployment uses, bundled: each provider's factory (in `infra`) fills one."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlops_template.core.features.online import OnlineStore
from mlops_template.core.ports import (
    BlobStore,
    ExportSigner,
    MetricsSink,
    PredictionLog,
    RunTracker,
)
from mlops_template.core.registry import Registry


@dataclass
class Backend:
    data: BlobStore
    artifacts: BlobStore
    registry: Registry
    metrics: MetricsSink
    predictions: PredictionLog
    signer: ExportSigner
    name: str = "local"
    # Where ended runs are also logged (MLflow when MLFLOW_TRACKING_URI is set); none by default.
    trackers: list[RunTracker] = field(default_factory=list)
    # The online feature store (entity lookups at /predict); None where none is configured.
    online_features: OnlineStore | None = None
