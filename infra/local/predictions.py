"""Captured predictions as JSON-lines files, feedback in SQLite.

    <home>/captures/model=<m>/version=<v>/date=<d>/part-<process>.jsonl   appended, one line each
    <home>/predictions.db   table feedback(prediction_id, model, label, at)

The same layout Firehose writes on AWS (core/captures.py). A process appends to a file of its
own per partition, so two servers never interleave half lines.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing
from pathlib import Path

from mlops_template.core.captures import CaptureReader, encode, partition_of
from mlops_template.core.records import FeedbackOutcome, PredictionRecord, utc_now
from mlops_template.infra.local.sqlite import connect

CHUNK_BYTES = 1024 * 1024
SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    prediction_id TEXT PRIMARY KEY, model TEXT NOT NULL, label TEXT NOT NULL, at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS feedback_by_model ON feedback(model, at);
"""


class FilePredictionLog(CaptureReader):
    def __init__(self, home: str | Path, *, database: str | Path | None = None) -> None:
        self.home = Path(home)
        self.path = Path(database) if database else self.home / "predictions.db"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One file per process and partition: appends of whole lines, never interleaved.
        self._part = f"part-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
        with closing(self._connect()) as db:
            db.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return connect(self.path)

    def record(self, predictions: Sequence[PredictionRecord]) -> None:
        by_partition: dict[str, list[bytes]] = {}
        for p in predictions:
            by_partition.setdefault(partition_of(p.model, p.version, p.at), []).append(encode(p))
        for partition, lines in by_partition.items():
            folder = self.home / partition
            folder.mkdir(parents=True, exist_ok=True)
            with open(folder / self._part, "ab") as out:
                out.write(b"".join(lines))

    def add_feedback(self, prediction_id: str, label: str, *, model: str) -> FeedbackOutcome:
        with closing(self._connect()) as db:
            # The primary key makes a second label a no-op, even when two race.
            changed = db.execute(
                "INSERT OR IGNORE INTO feedback(prediction_id, model, label, at) "
                "VALUES (?, ?, ?, ?)",
                (prediction_id, model, label, utc_now()),
            ).rowcount
        return "recorded" if changed == 1 else "already_labelled"

    def feedback(self, model: str, *, since: str = "") -> dict[str, str]:
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT prediction_id, label FROM feedback WHERE model = ? AND at >= ?",
                (model, since),
            ).fetchall()
        return dict(rows)

    def _keys(self, prefix: str) -> Iterable[str]:
        root = self.home / prefix
        if not root.is_dir():
            return []
        return sorted(p.relative_to(self.home).as_posix() for p in root.rglob("*.jsonl"))

    def _rewrite(self, key: str, data: bytes | None) -> None:
        path = self.home / key
        if data is None:
            path.unlink(missing_ok=True)
            return
        scratch = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        scratch.write_bytes(data)
        os.replace(scratch, path)  # readers see the old object or the new one, never half

    def _chunks(self, key: str) -> Iterator[bytes]:
        with open(self.home / key, "rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                yield chunk
