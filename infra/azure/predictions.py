"""The PredictionLog port on Azure Storage: captures as blobs, feedback in a Table.

    <data container>/captures/model=<m>/version=<v>/date=<d>/<time>-<id>.jsonl   one blob a batch
    PartitionKey = feedback-<model>   RowKey = <prediction id>   label, at

The capture layout is the one Firehose writes on AWS (core/captures.py); each `record` call is
one blob (a batch of captures), so there is no per-prediction write. Feedback is one entity per
labelled prediction, created once: a second label finds it there ("already_labelled").

Neither Blob nor Table Storage expires data on its own: a lifecycle management policy on the
captures/ prefix removes old captures.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from urllib.parse import quote, unquote

from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableClient
from azure.storage.blob import ContainerClient

from mlops_template.core.captures import CaptureReader, encode, partition_of
from mlops_template.core.records import FeedbackOutcome, PredictionRecord, utc_now


def _key(text: str) -> str:
    """A string as a table key: '/', '\\\\', '#', '?' and control characters are not allowed."""
    return quote(text, safe="")


class BlobPredictionLog(CaptureReader):
    def __init__(self, container: ContainerClient, table: TableClient) -> None:
        self._container = container
        self._table = table

    def record(self, predictions: Sequence[PredictionRecord]) -> None:
        by_partition: dict[str, list[bytes]] = {}
        for p in predictions:
            by_partition.setdefault(partition_of(p.model, p.version, p.at), []).append(encode(p))
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%S%f")
        for partition, lines in by_partition.items():
            name = f"{partition}{stamp}-{uuid.uuid4().hex}.jsonl"
            self._container.upload_blob(name, b"".join(lines), overwrite=False)

    def add_feedback(self, prediction_id: str, label: str, *, model: str) -> FeedbackOutcome:
        try:
            self._table.create_entity(
                {
                    "PartitionKey": f"feedback-{_key(model)}",
                    "RowKey": _key(prediction_id),
                    "true_label": label,
                    "at": utc_now(),
                }
            )
        except ResourceExistsError:
            return "already_labelled"
        return "recorded"

    def feedback(self, model: str, *, since: str = "") -> dict[str, str]:
        entities = self._table.query_entities(
            "PartitionKey eq @pk and at ge @since",
            parameters={"pk": f"feedback-{_key(model)}", "since": since},
        )
        return {unquote(e["RowKey"]): e["true_label"] for e in entities}

    def _keys(self, prefix: str) -> Iterable[str]:
        return self._container.list_blob_names(name_starts_with=prefix)

    def _rewrite(self, key: str, data: bytes | None) -> None:
        if data is None:
            self._container.delete_blob(key)
        else:
            self._container.upload_blob(key, data, overwrite=True)

    def _chunks(self, key: str) -> Iterator[bytes]:
        yield from self._container.download_blob(key).chunks()
