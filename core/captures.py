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

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from mlops_template.core.records import PredictionRecord

CAPTURE_PREFIX = "captures/"


def partition_of(model: str, version: int, at: str) -> str:
    """The folder a capture goes to; the date is the capture's own (UTC), as Firehose's
    metadata extraction reads it (`.at[0:10]`)."""
    return f"{CAPTURE_PREFIX}model={model}/version={version}/date={at[:10]}/"


def encode(record: PredictionRecord) -> bytes:
    """One JSON line; the label is never part of a capture (feedback joins it later)."""
    return record.model_dump_json(exclude={"true_label"}).encode() + b"\n"


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
    def _lines(self, key: str) -> Iterator[bytes]:
        """One object's lines, streamed (never the whole object in memory)."""

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
        whole days, newest first, until it has enough."""
        by_day: dict[date, list[CapturePart]] = {}
        for key in self._keys(f"{CAPTURE_PREFIX}model={model}/"):
            part = parse_key(key)
            if part is not None and part.model == model:
                by_day.setdefault(part.day, []).append(part)
        labels = self.feedback(model)
        newest: list[PredictionRecord] = []
        for day in sorted(by_day, reverse=True):
            rows = [row for part in by_day[day] for row in self.rows(part)]
            rows.sort(key=lambda r: parse_time(r["at"]), reverse=True)
            newest.extend(_record(r, labels) for r in rows[: limit - len(newest)])
            if len(newest) >= limit:
                break
        return newest


def _record(row: dict[str, Any], labels: Mapping[str, str]) -> PredictionRecord:
    record = PredictionRecord.model_validate(row)
    record.true_label = labels.get(record.prediction_id)
    return record
