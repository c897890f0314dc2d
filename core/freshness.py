"""Freshness: how old the newest accepted data is, and how old the data the served model learned.

With a time column in the config (`time.column`), each accepted file records the newest
timestamp it holds (its validation report, its run record, the `Dataset` the later steps get),
and the newest of all accepted files is kept in one small record beside the latest-data pointer.
A registered version keeps the newest timestamp of its training data.

The monitor publishes, per model and stage:
- `DataAgeHours`: now minus the newest timestamp of any accepted file. It grows when files stop
  arriving, or arrive holding only old rows (an export job that re-sends last month).
- `ModelDataAgeHours`: now minus the newest timestamp of the served version's training data. It
  grows when retraining stops, however recent the version's own creation is (a model retrained
  on an old file is as stale as its data).
Their alarms (thresholds per environment) fire before accuracy falls.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field

from mlops_template.core.ports import BlobNotFound, BlobStore, MetricsSink
from mlops_template.core.records import ModelVersion, utc_now
from mlops_template.training.config import TimeConfig
from mlops_template.training.freshness import hours_since, newest_timestamp
from mlops_template.training.tabular_io import TabularReadError

DATA_AGE_METRIC = "DataAgeHours"
MODEL_DATA_AGE_METRIC = "ModelDataAgeHours"

log = logging.getLogger(__name__)


def freshness_key(model: str) -> str:
    return f"datasets/{model}/freshness.json"


class DataFreshness(BaseModel):
    """The newest timestamp any accepted file of a model held, and which file that was."""

    model: str
    newest_timestamp: str = Field(description="ISO 8601, UTC.")
    source: str = Field(description="The accepted file that held it.")
    recorded_at: str = Field(default_factory=utc_now)


def file_newest(data: Path, time: TimeConfig, *, name: str | None = None) -> str | None:
    """The newest timestamp of an accepted file (ISO 8601, UTC), or None without a time column
    or a parseable value. A file without the column is validation's verdict, not this one's."""
    if time.column is None:
        return None
    try:
        found = newest_timestamp(data, time.column, timezone=time.timezone, name=name)
    except TabularReadError as exc:
        log.warning("no newest timestamp for %s: %s", name or data, exc)
        return None
    return None if found is None else found.isoformat()


def load_freshness(store: BlobStore, model: str) -> DataFreshness | None:
    try:
        return DataFreshness.model_validate_json(store.get(freshness_key(model)))
    except BlobNotFound:
        return None


def record_freshness(store: BlobStore, model: str, newest: str, source: str) -> DataFreshness:
    """Keep `newest` if it is newer than what earlier files held: a late file of old rows does
    not make the data look older than it is. Two runs racing may both write; the later write
    wins, and the next accepted file (or the run that lost) sets it right."""
    current = load_freshness(store, model)
    if current is not None and _at(current.newest_timestamp) >= _at(newest):
        return current
    record = DataFreshness(model=model, newest_timestamp=newest, source=source)
    store.put(
        freshness_key(model), record.model_dump_json().encode(), content_type="application/json"
    )
    return record


def _at(text: str) -> datetime:
    when = datetime.fromisoformat(text)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class FreshnessReport(BaseModel):
    data_newest_timestamp: str | None = None
    data_age_hours: float | None = None
    model_data_newest_timestamp: str | None = None
    model_data_age_hours: float | None = None


def publish_freshness(
    store: BlobStore,
    metrics: MetricsSink,
    current: ModelVersion,
    *,
    stage: str = "production",
    now: datetime | None = None,
) -> FreshnessReport:
    """Publish the two ages (those that exist: a model without a time column has neither)."""
    dims = {"model": current.model, "stage": stage}
    data = load_freshness(store, current.model)
    report = FreshnessReport(
        data_newest_timestamp=data.newest_timestamp if data else None,
        model_data_newest_timestamp=current.data_newest_timestamp,
    )
    report.data_age_hours = hours_since(report.data_newest_timestamp, now)
    report.model_data_age_hours = hours_since(report.model_data_newest_timestamp, now)
    if report.data_age_hours is not None:
        metrics.put(DATA_AGE_METRIC, report.data_age_hours, unit="None", dimensions=dims)
    if report.model_data_age_hours is not None:
        metrics.put(
            MODEL_DATA_AGE_METRIC, report.model_data_age_hours, unit="None", dimensions=dims
        )
    return report
