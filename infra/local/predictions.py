"""Captured predictions and feedback in SQLite."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence
from contextlib import closing
from pathlib import Path

from mlops_template.core.records import FeedbackOutcome, PredictionRecord, feature_text
from mlops_template.infra.local.sqlite import connect

SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    prediction_id TEXT PRIMARY KEY, model TEXT NOT NULL, at TEXT NOT NULL, body TEXT NOT NULL,
    true_label TEXT);
CREATE INDEX IF NOT EXISTS predictions_by_model ON predictions(model, at);
"""


class SqlitePredictionLog:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db:
            db.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return connect(self.path)

    def record(self, predictions: Sequence[PredictionRecord]) -> None:
        with closing(self._connect()) as db:
            db.execute("BEGIN")
            db.executemany(
                "INSERT OR IGNORE INTO predictions(prediction_id, model, at, body) "
                "VALUES (?, ?, ?, ?)",
                [(p.prediction_id, p.model, p.at, p.model_dump_json()) for p in predictions],
            )
            db.execute("COMMIT")

    def add_feedback(self, prediction_id: str, label: str) -> FeedbackOutcome:
        with closing(self._connect()) as db:
            # One statement, so two racing labels cannot both find the row unlabelled.
            changed = db.execute(
                "UPDATE predictions SET true_label = ? "
                "WHERE prediction_id = ? AND true_label IS NULL",
                (label, prediction_id),
            ).rowcount
            if changed == 1:
                return "recorded"
            known = db.execute(
                "SELECT 1 FROM predictions WHERE prediction_id = ?", (prediction_id,)
            ).fetchone()
        return "already_labelled" if known else "unknown"

    def recent(self, model: str, *, limit: int = 10_000) -> list[PredictionRecord]:
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT body, true_label FROM predictions WHERE model = ? "
                "ORDER BY at DESC, rowid DESC LIMIT ?",
                (model, limit),
            ).fetchall()
        records = []
        for body, true_label in rows:
            record = PredictionRecord.model_validate_json(body)
            record.true_label = true_label
            records.append(record)
        return records

    def forget(self, model: str, key: str, values: Collection[str]) -> int:
        wanted = {str(v) for v in values}
        with closing(self._connect()) as db:
            db.execute("BEGIN")
            doomed = [
                (prediction_id,)
                for prediction_id, body in db.execute(
                    "SELECT prediction_id, body FROM predictions WHERE model = ?", (model,)
                )
                if feature_text(PredictionRecord.model_validate_json(body).features.get(key))
                in wanted
            ]
            db.executemany("DELETE FROM predictions WHERE prediction_id = ?", doomed)
            db.execute("COMMIT")
        return len(doomed)
