"""The PredictionLog port on one Azure Table.

    PartitionKey = model-<model>   RowKey = <inverted capture time>-<id>   the prediction, its label
    PartitionKey = ids-<h>         RowKey = <id>                            where that entity is

The timeline's RowKeys count down as time goes on, so "the newest predictions of a model" is one
partition query read in key order. Feedback has only the id: a pointer entity (in one of 16
partitions by a hash of the id, so a capture's pointers go in a few transactions) names the
timeline entity, whose label is written once with an ETag condition: of two racing labels, the
second finds the entity changed, reads it again and sees the first label.

Table Storage has no TTL: old predictions stay until a lifecycle job removes them (DynamoDB
expires them after 30 days).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any
from urllib.parse import quote

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableEntity, UpdateMode

from mlops_template.core.records import FeedbackOutcome, PredictionRecord, feature_text
from mlops_template.infra.azure.tables import pack, unpack

BATCH = 100  # operations in one entity-group transaction
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = 10**17  # microseconds since the epoch: beyond the year 5000


def _key(text: str) -> str:
    """A string as a table key: '/', '\\\\', '#', '?' and control characters are not allowed."""
    return quote(text, safe="")


def _pointer_key(prediction_id: str) -> tuple[str, str]:
    bucket = hashlib.sha256(prediction_id.encode()).hexdigest()[0]
    return f"ids-{bucket}", _key(prediction_id)


def _timeline_key(record: PredictionRecord) -> tuple[str, str]:
    at = datetime.fromisoformat(record.at)
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    micros = (at - _EPOCH) // timedelta(microseconds=1)
    return f"model-{record.model}", f"{_LATEST - micros:017d}-{_key(record.prediction_id)}"


class TablePredictionLog:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def _upsert(self, entities: Iterable[dict[str, Any]]) -> None:
        """Merge entities in transactions of one partition each (a merge keeps a stored label)."""
        by_partition: dict[str, dict[str, dict[str, Any]]] = {}
        for entity in entities:
            by_partition.setdefault(entity["PartitionKey"], {})[entity["RowKey"]] = entity
        for rows in by_partition.values():
            batch = list(rows.values())
            for start in range(0, len(batch), BATCH):
                self._table.submit_transaction(
                    [
                        ("upsert", e, {"mode": UpdateMode.MERGE})
                        for e in batch[start : start + BATCH]
                    ]
                )

    def record(self, predictions: Sequence[PredictionRecord]) -> None:
        timeline, pointers = [], []
        for p in predictions:
            partition, row = _timeline_key(p)
            timeline.append(
                {
                    "PartitionKey": partition,
                    "RowKey": row,
                    "version": p.version,
                    "at": p.at,
                    **pack(p.model_dump_json(exclude={"true_label"})),
                }
            )
            pointer_partition, pointer_row = _pointer_key(p.prediction_id)
            pointers.append(
                {
                    "PartitionKey": pointer_partition,
                    "RowKey": pointer_row,
                    "partition": partition,
                    "row": row,
                }
            )
        # The timeline first: a pointer never names an entity that was not written.
        self._upsert(timeline)
        self._upsert(pointers)

    def _get(self, partition: str, row: str) -> TableEntity | None:
        try:
            return self._table.get_entity(partition, row)
        except ResourceNotFoundError:
            return None

    def add_feedback(self, prediction_id: str, label: str) -> FeedbackOutcome:
        pointer = self._get(*_pointer_key(prediction_id))
        if pointer is None:
            return "unknown"
        while True:
            entity = self._get(pointer["partition"], pointer["row"])
            if entity is None:
                return "unknown"
            if entity.get("true_label") is not None:
                return "already_labelled"
            try:
                self._table.update_entity(
                    {
                        "PartitionKey": pointer["partition"],
                        "RowKey": pointer["row"],
                        "true_label": label,
                    },
                    mode=UpdateMode.MERGE,
                    etag=entity.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
            except ResourceModifiedError:
                continue  # written meanwhile: read it again (a label there wins)
            except ResourceNotFoundError:
                return "unknown"
            return "recorded"

    def recent(self, model: str, *, limit: int = 10_000) -> list[PredictionRecord]:
        entities = self._table.query_entities(
            "PartitionKey eq @pk",
            parameters={"pk": f"model-{model}"},
            results_per_page=min(1000, limit),
        )
        records = []
        for entity in islice(entities, limit):
            record = PredictionRecord.model_validate_json(unpack(entity))
            record.true_label = entity.get("true_label")
            records.append(record)
        return records

    def forget(self, model: str, key: str, values: Collection[str]) -> int:
        wanted = {str(v) for v in values}
        doomed = []
        for entity in self._table.query_entities(
            "PartitionKey eq @pk", parameters={"pk": f"model-{model}"}
        ):
            record = PredictionRecord.model_validate_json(unpack(entity))
            if feature_text(record.features.get(key)) in wanted:
                doomed.append((entity["PartitionKey"], entity["RowKey"], record.prediction_id))
        for partition, row, prediction_id in doomed:
            # The pointer first: feedback for a forgotten id then finds nothing ("unknown").
            with contextlib.suppress(ResourceNotFoundError):
                self._table.delete_entity(*_pointer_key(prediction_id))
            self._table.delete_entity(partition, row)
        return len(doomed)
