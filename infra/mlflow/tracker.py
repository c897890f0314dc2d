"""MlflowTracker: one MLflow run per run of ours, through MLflow's client API.

The MLflow run is named after our run id and tagged `mlops.run_id`; logging the same run again
(a retried step) finds it by that tag and updates it instead of adding a second run."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_template.core.records import RunRecord

if TYPE_CHECKING:  # mlflow is optional: imported on first use
    from mlflow.tracking import MlflowClient

# Our run's status -> MLflow's run status: a run that was trained and judged (registered, or
# refused by its gate) finished; one that stopped on its data or an error failed.
MLFLOW_STATUS = {
    "registered": "FINISHED",
    "gate_failed": "FINISHED",
    "not_selected": "FINISHED",
    "rejected_data": "FAILED",
    "error": "FAILED",
}
RUN_ID_TAG = "mlops.run_id"
# MLflow's limits (tag values 8,000 characters, params 6,000); our values are far shorter.
MAX_TAG = 5000
MAX_PARAM = 500


def _millis(timestamp: str | None) -> int | None:
    return int(datetime.fromisoformat(timestamp).timestamp() * 1000) if timestamp else None


def _text(value: Any, limit: int) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def run_tags(run: RunRecord) -> dict[str, str]:
    """What MLflow's UI filters and shows by: our ids, the outcome and the provenance."""
    tags = {
        RUN_ID_TAG: run.run_id,
        "mlops.model": run.model,
        "mlops.status": run.status,
        "mlops.reason": run.reason,
        "mlops.data_sha256": run.data_sha256,
        "mlops.code_version": run.code_version,
        "mlops.source": run.source,
        "mlops.actor": run.actor,
        "mlflow.user": run.actor,  # MLflow's own: the UI's "User" column
    }
    if run.code_version:
        tags["mlflow.source.git.commit"] = run.code_version
    if run.version is not None:
        tags["mlops.version"] = str(run.version)
    if run.sweep:
        tags["mlops.sweep"] = run.sweep
    return {key: _text(value, MAX_TAG) for key, value in tags.items() if value != ""}


def run_params(run: RunRecord) -> dict[str, str]:
    """The hyperparameters, flat (`algorithm`, `params.max_depth`...)."""
    return {
        key: _text(value, MAX_PARAM)
        for key, value in run.hyperparameters.items()
        if value is not None
    }


def run_metrics(run: RunRecord) -> dict[str, float]:
    """The candidate's metrics, and the baseline's as `baseline.<name>`."""
    metrics = {name: float(value) for name, value in run.metrics.items()}
    metrics.update({f"baseline.{n}": float(v) for n, v in run.baseline_metrics.items()})
    return metrics


class MlflowTracker:
    """Logs ended runs to MLflow: experiment = model name, MLflow run name = our run id."""

    def __init__(self, tracking_uri: str, *, client: MlflowClient | None = None) -> None:
        self.tracking_uri = tracking_uri
        self._client = client

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            from mlflow.tracking import MlflowClient

            self._client = MlflowClient(tracking_uri=self.tracking_uri)
        return self._client

    def run_ended(self, run: RunRecord, artifacts: Mapping[str, bytes]) -> None:
        from mlflow.entities import Metric, Param, RunTag

        client = self.client
        experiment_id = self.experiment_id(run.model)
        existing = self.find_run(experiment_id, run.run_id)
        if existing is None:
            created = client.create_run(
                experiment_id,
                start_time=_millis(run.started_at),
                tags={RUN_ID_TAG: run.run_id},
                run_name=run.run_id,
            )
            mlflow_run_id, logged_params, logged_metrics = created.info.run_id, {}, {}
        else:
            mlflow_run_id = existing.info.run_id
            logged_params, logged_metrics = existing.data.params, existing.data.metrics
        now = int(time.time() * 1000)
        client.log_batch(
            mlflow_run_id,
            # A param is written once in MLflow: a retry logs only those not there yet.
            params=[Param(k, v) for k, v in run_params(run).items() if k not in logged_params],
            metrics=[
                Metric(k, v, now, 0)
                for k, v in run_metrics(run).items()
                if logged_metrics.get(k) != v
            ],
            tags=[RunTag(k, v) for k, v in run_tags(run).items()],
        )
        client.log_dict(mlflow_run_id, run.model_dump(mode="json"), "mlops_run.json")
        if artifacts:
            with tempfile.TemporaryDirectory(prefix="mlops-mlflow-") as folder:
                for name, data in artifacts.items():
                    path = Path(folder, Path(name).name)
                    path.write_bytes(data)
                    client.log_artifact(mlflow_run_id, str(path))
        status = MLFLOW_STATUS.get(run.status)
        if status is not None:
            client.set_terminated(mlflow_run_id, status, end_time=_millis(run.ended_at))

    def experiment_id(self, name: str) -> str:
        """The experiment named after the model, created on its first run."""
        from mlflow.exceptions import MlflowException

        client = self.client
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            return str(experiment.experiment_id)
        try:
            return str(client.create_experiment(name))
        except MlflowException:  # created meanwhile by a concurrent run
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
            return str(experiment.experiment_id)

    def find_run(self, experiment_id: str, run_id: str) -> Any | None:
        """The MLflow run already logged for our run, if any (our run ids are [A-Za-z0-9-_])."""
        if "'" in run_id:
            raise ValueError(f"run id {run_id!r} cannot be searched for in MLflow")
        found = self.client.search_runs(
            [experiment_id], filter_string=f"tags.`{RUN_ID_TAG}` = '{run_id}'", max_results=1
        )
        return found[0] if found else None
