"""Optional MLflow: a `RunTracker` that logs each ended run to an MLflow tracking server or
store (`pip install '.[mlflow]'`, `MLFLOW_TRACKING_URI`), so a team that already uses MLflow's
UI sees the runs there. Not a provider: it only mirrors the registry's run records. May import
only the core; `mlflow` itself is imported on first use, here and nowhere else."""

from __future__ import annotations

from importlib.util import find_spec

from mlops_template.core.ports import TrackerUnavailable
from mlops_template.core.settings import Settings
from mlops_template.infra.mlflow.tracker import MlflowTracker

__all__ = ["MlflowTracker", "mlflow_tracker"]


def mlflow_tracker(settings: Settings) -> MlflowTracker:
    """The tracker for MLFLOW_TRACKING_URI; TrackerUnavailable without the extra installed."""
    if find_spec("mlflow") is None:  # checked without importing it (about a second)
        raise TrackerUnavailable(
            "MLFLOW_TRACKING_URI is set but MLflow is not installed: pip install '.[mlflow]'"
        )
    return MlflowTracker(settings.mlflow_tracking_uri)
