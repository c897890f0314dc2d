"""Captured predictions as JSON lines, partitioned by model, version and date.

    captures/model=<model>/version=<version>/date=<YYYY-MM-DD>/<object>   one prediction a line

On AWS, Amazon Data Firehose writes these objects (dynamic partitioning on the record's own
`model`, `version` and `at`); locally they are files, on Azure blobs. Each line is a
PredictionRecord without its label: feedback is kept apart, one small record per labelled
prediction, and joined by prediction id when captures are read (`window`, `recent`).

`CaptureReader` holds what every adapter shares: finding the objects of a time window and
reading them line by line, so a reader holds one object's line at a time, whatever the traffic.
"""

from __future__ import annotations

import heapq
import io
import json
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from mlops_template.core.records import PredictionRecord, feature_text

CAPTURE_PREFIX = "captures/"


def partition_of(model: str, version: int, at: str) -> str:
    """The folder a capture goes to; the date is the capture's own (UTC), as Firehose's
    metadata extraction reads it (`.at[0:10]`)."""
    return f"{CAPTURE_PREFIX}model={model}/version={version}/date={at[:10]}/"


def encode(record: PredictionRecord) -> bytes:
    """One JSON line; the label is never part of a capture (feedback joins it later)."""
    exclude = {"true_label"} if record.entities else {"true_label", "entities"}
    return record.model_dump_json(exclude=exclude).encode() + b"\n"


def parse_time(at: str) -> datetime:
    moment = datetime.fromisoformat(at)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class CapturePart:
    """One capture object: its key and the partition it sits in."""

    key: str
    model: str
    version: int
    day: date


def parse_key(key: str) -> CapturePart | None:
    """The partition of a capture object's key; None for a key outside the layout (Firehose's
    error output, say)."""
    fields: dict[str, str] = {}
    for segment in key.removeprefix(CAPTURE_PREFIX).split("/")[:-1]:
        name, _, value = segment.partition("=")
        fields[name] = value
    try:
        return CapturePart(
            key, fields["model"], int(fields["version"]), date.fromisoformat(fields["date"])
        )
    except (KeyError, ValueError):
        return None


def days(start: datetime, end: datetime) -> set[date]:
    """The UTC dates a window [start, end) touches."""
    first, last = start.astimezone(UTC).date(), (end - timedelta(microseconds=1)).astimezone(UTC)
    return {first + timedelta(n) for n in range((last.date() - first).days + 1)}


class CaptureReader(ABC):
    """Reading captures, the same for every store: an adapter lists keys and streams lines."""

    @abstractmethod
    def _keys(self, prefix: str) -> Iterable[str]:
        """Every capture object's key under a prefix."""

    @abstractmethod
    def _chunks(self, key: str) -> Iterator[bytes]:
        """One object's bytes, streamed a chunk at a time (never the whole object in memory)."""

    @abstractmethod
    def _rewrite(self, key: str, data: bytes | None) -> None:
        """Replace one capture object's bytes (None: delete it): erasure's only write."""

    def forget(self, model: str, key: str, values: Collection[str]) -> int:
        """Delete every capture of `model` whose feature `key` (as text: 3.0 is "3") is one of
        `values`: each object that holds one is rewritten without those lines (one object in
        memory at a time; Firehose objects are at most its 128 MB buffer)."""
        wanted = {str(v) for v in values}
        removed = 0
        for name in list(self._keys(f"{CAPTURE_PREFIX}model={model}/")):
            kept: list[bytes] = []
            dropped = 0
            for line in self._lines(name):
                if not line.strip():
                    continue
                features = json.loads(line).get("features") or {}
                if feature_text(features.get(key)) in wanted:
                    dropped += 1
                else:
                    kept.append(line + b"\n")
            if dropped:
                self._rewrite(name, b"".join(kept) if kept else None)
                removed += dropped
        return removed

    def _lines(self, key: str) -> Iterator[bytes]:
        rest = b""
        for chunk in self._chunks(key):
            *lines, rest = (rest + chunk).split(b"\n")
            yield from lines
        if rest:
            yield rest

    @abstractmethod
    def feedback(self, model: str, *, since: str = "") -> dict[str, str]:
        """Prediction id -> true label, for the feedback given on a model since a time."""

    def parts(self, model: str, start: datetime, end: datetime) -> list[CapturePart]:
        """The capture objects that may hold captures of [start, end), every version."""
        wanted = days(start, end)
        found = (parse_key(k) for k in self._keys(f"{CAPTURE_PREFIX}model={model}/"))
        return sorted(
            (p for p in found if p is not None and p.model == model and p.day in wanted),
            key=lambda p: p.key,
        )

    def rows(
        self, part: CapturePart, start: datetime | None = None, end: datetime | None = None
    ) -> Iterator[dict[str, Any]]:
        """The captures of one object as plain dicts (no validation: the readers that go
        through millions keep them cheap), only those of [start, end) when given."""
        for line in self._lines(part.key):
            if not line.strip():
                continue
            row = json.loads(line)
            if start is not None and end is not None and not start <= parse_time(row["at"]) < end:
                continue
            yield row

    def columns(
        self,
        part: CapturePart,
        numeric: Sequence[str],
        categorical: Sequence[str],
        start: datetime,
        end: datetime,
        *,
        shadow: bool = False,
    ) -> Iterator[CaptureColumns]:
        """The served (not shadow; with `shadow`, both) captures of one object in [start, end),
        a block of rows at a time as columns, parsed by pyarrow's JSON reader: what a reader of
        millions of captures uses (the monitor, A/B and shadow reports). Memory holds one
        block, whatever the object's size."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.json as pj

        features = [(n, pa.float64()) for n in numeric] + [(n, pa.string()) for n in categorical]
        schema = pa.schema(
            [
                ("prediction_id", pa.string()),
                ("stage", pa.string()),
                ("label", pa.string()),
                ("value", pa.float64()),
                ("at", pa.timestamp("us", tz="UTC")),
                ("features", pa.struct(features) if features else pa.struct([])),
            ]
        )
        reader = pj.open_json(
            _ChunkStream(self._chunks(part.key)),
            read_options=pj.ReadOptions(block_size=BLOCK_BYTES),
            parse_options=pj.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="ignore"
            ),
        )
        bounds = (
            pa.scalar(start, pa.timestamp("us", tz="UTC")),
            pa.scalar(end, pa.timestamp("us", tz="UTC")),
        )
        for batch in reader:
            keep = pc.and_(
                pc.greater_equal(batch["at"], bounds[0]), pc.less(batch["at"], bounds[1])
            )
            if not shadow:
                keep = pc.and_(keep, pc.not_equal(pc.fill_null(batch["stage"], ""), "shadow"))
            batch = batch.filter(keep)
            if not batch.num_rows:
                continue
            struct = batch["features"]
            yield CaptureColumns(
                rows=batch.num_rows,
                prediction_ids=batch["prediction_id"],
                labels=batch["label"],
                values=batch["value"],
                at=batch["at"],
                stages=batch["stage"],
                features={
                    name: struct.field(name).to_numpy(zero_copy_only=False) for name, _ in features
                },
            )

    def window(
        self, model: str, start: datetime, end: datetime, *, labels: Mapping[str, str] | None = None
    ) -> Iterator[PredictionRecord]:
        """Every capture of [start, end), object by object (not in time order), with feedback
        joined; memory holds one object's line and the labels, whatever the window's size."""
        labels = self.feedback(model, since=start.isoformat()) if labels is None else labels
        for part in self.parts(model, start, end):
            for row in self.rows(part, start, end):
                yield _record(row, labels)

    def recent(self, model: str, *, limit: int = 10_000) -> list[PredictionRecord]:
        """The newest `limit` captures of a model, newest first, with feedback joined. Reads
        whole days, newest first, until it has enough, keeping at most `limit` rows. A capture
        delivered twice (a retried message, Firehose's at-least-once delivery) counts once."""
        by_day: dict[date, list[CapturePart]] = {}
        for key in self._keys(f"{CAPTURE_PREFIX}model={model}/"):
            part = parse_key(key)
            if part is not None and part.model == model:
                by_day.setdefault(part.day, []).append(part)
        labels = self.feedback(model)
        newest: list[PredictionRecord] = []
        seen: set[str] = set()
        for day in sorted(by_day, reverse=True):
            # Ties in time go to the later line (written later).
            rows = heapq.nlargest(
                limit - len(newest),
                enumerate(row for part in by_day[day] for row in self.rows(part)),
                key=lambda item: (parse_time(item[1]["at"]), item[0]),
            )
            for _, row in rows:
                if row["prediction_id"] not in seen:
                    seen.add(row["prediction_id"])
                    newest.append(_record(row, labels))
            if len(newest) >= limit:
                break
        return newest


BLOCK_BYTES = 4 * 1024 * 1024  # pyarrow's JSON reader parses this much at a time


@dataclass
class CaptureColumns:
    """A block of captures as columns: features as numpy arrays (numeric: float with nan for
    missing; categorical: objects with None), ids, labels and values as pyarrow arrays."""

    rows: int
    prediction_ids: Any
    labels: Any
    features: dict[str, Any]
    values: Any = None  # the predicted values (regression), a pyarrow float array
    at: Any = None  # when each was served, a pyarrow timestamp (UTC) array
    stages: Any = None  # the stages that answered, a pyarrow string array


class _ChunkStream(io.RawIOBase):
    """A file over an iterator of byte chunks, for readers that want one (pyarrow)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks, self._rest = chunks, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._rest:
            try:
                self._rest = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._rest))
        buffer[:size] = self._rest[:size]
        self._rest = self._rest[size:]
        return size


def _record(row: dict[str, Any], labels: Mapping[str, str]) -> PredictionRecord:
    record = PredictionRecord.model_validate(row)
    record.true_label = labels.get(record.prediction_id)
    return record
