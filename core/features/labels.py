"""A label file in, a training table out: what the pipeline's validate step does first when
the model's config says `features_from` (docs/feature-store.md, "Training from views").

The label file holds the entity keys, an event time, the target and whatever the caller sends
at request time; each of its rows gets, per named view, the features as known at its event
time (the point-in-time join of `offline.py`: nothing stamped later is used, nulls where
nothing was known yet). The keys and the event time are not features: they leave the table.
Every problem (a view not defined, a view with no history, a column the label file lacks) is a
`TrainingSetError` naming it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mlops_template.core.features.definitions import DefinitionError, FeatureRepo, FeatureView
from mlops_template.core.features.offline import (
    ENTITY_TIME,
    OfflineStore,
    TrainingSet,
    TrainingSetError,
    build_training_set,
    entity_table_from_bytes,
)
from mlops_template.training.config import FeaturesFrom


@dataclass(frozen=True)
class LabelJoin:
    training_set: TrainingSet
    views: list[FeatureView]
    entity_keys: list[str]


def resolve_views(repo: FeatureRepo, features_from: FeaturesFrom) -> list[FeatureView]:
    try:
        return [repo.view(name) for name in features_from.views]
    except DefinitionError as exc:
        raise TrainingSetError(f"features_from.views: {exc}") from None


def join_label_file(
    offline: OfflineStore,
    repo: FeatureRepo,
    features_from: FeaturesFrom,
    data: bytes,
    name: str,
    *,
    as_of_write_ms: int | None = None,
) -> LabelJoin:
    """The training table of a label file (CSV or Parquet, by `name`) and its manifest."""
    views = resolve_views(repo, features_from)
    keys = features_from.entity_keys or list(dict.fromkeys(v.entity.join_key for v in views))
    for view in views:
        if view.entity.join_key not in keys:
            raise TrainingSetError(
                f"feature view {view.name} joins on {view.entity.join_key!r}, which is not one "
                f"of features_from.entity_keys {keys}"
            )
    table = entity_table_from_bytes(data, name, join_keys=keys)
    event_time = features_from.event_time
    missing = [c for c in [*keys, event_time] if c not in table.column_names]
    if missing:
        raise TrainingSetError(
            f"the label file lacks column(s) {missing}: it needs the entity key(s) {keys} and "
            f"the event time {event_time!r} (features_from)"
        )
    for key in keys:
        column = table.column(key).cast(pa.string())
        empty = column.null_count + (
            pc.sum(pc.equal(pc.utf8_trim_whitespace(column), "")).as_py() or 0
        )
        if empty:
            raise TrainingSetError(
                f"{empty} label row(s) have no {key}: every row must name its entity"
            )
    if event_time != ENTITY_TIME:
        if ENTITY_TIME in table.column_names:
            raise TrainingSetError(
                f"the label file has both {event_time!r} (features_from.event_time) and "
                f"{ENTITY_TIME!r}: keep one"
            )
        table = table.rename_columns(
            [ENTITY_TIME if c == event_time else c for c in table.column_names]
        )
    for view in views:
        if not offline.keys(view):
            raise TrainingSetError(
                f"feature view {view.name} version {view.version} has no offline history: "
                f"ingest it first (mlops features ingest {view.name} FILE)"
            )
    built = build_training_set(
        offline,
        table,
        views,
        entity_sha256=hashlib.sha256(data).hexdigest(),
        keep_keys=False,
        as_of_write_ms=as_of_write_ms,
    )
    # Keys that join no view are ids all the same: never features.
    extra = [k for k in keys if k in built.table.column_names]
    manifest: dict[str, Any] = {
        **built.manifest,
        "entity_keys": keys,
        "event_time": event_time,
    }
    return LabelJoin(
        training_set=TrainingSet(table=built.table.drop_columns(extra), manifest=manifest),
        views=views,
        entity_keys=keys,
    )


def lineage(manifest: dict[str, Any], manifest_key: str) -> dict[str, Any]:
    """What a model version records of the training set it was trained from."""
    return {
        "views": [
            {"name": v["name"], "version": v["version"], "join_key": v["join_key"]}
            for v in manifest["views"]
        ],
        "entity_sha256": manifest["entity_sha256"],
        "entity_rows": manifest["entity_rows"],
        "as_of_write_ms": manifest["as_of_write_ms"],
        "manifest_key": manifest_key,
    }
