"""The online feature store on SQLite: one row per entity and view version.

The write rule in one statement: `ON CONFLICT ... DO UPDATE ... WHERE` the incoming record is
newer (event time, then created time), so an older record is refused without a read first.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from mlops_template.core.features.online import OnlineKey, OnlineRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS online_features (
    pk TEXT PRIMARY KEY,
    event_ms INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    features TEXT NOT NULL
)
"""
UPSERT = """
INSERT INTO online_features (pk, event_ms, created_ms, deleted, expires_at, features)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (pk) DO UPDATE SET
    event_ms = excluded.event_ms, created_ms = excluded.created_ms, deleted = excluded.deleted,
    expires_at = excluded.expires_at, features = excluded.features
WHERE excluded.event_ms > online_features.event_ms
   OR (excluded.event_ms = online_features.event_ms
       AND excluded.created_ms > online_features.created_ms)
"""
CHUNK = 500  # bound parameters per SELECT ... IN (...)


class SqliteOnlineStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._local = threading.local()

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(SCHEMA)
            self._local.db = db
        return db

    def write(
        self, view: str, version: str, records: Sequence[OnlineRecord], *, ttl_ms: int
    ) -> int:
        db = self._db()
        with db:
            before = db.total_changes
            db.executemany(
                UPSERT,
                [
                    (
                        OnlineKey(view, version, r.entity).pk,
                        r.event_ms,
                        r.created_ms,
                        int(r.deleted),
                        (r.event_ms + ttl_ms) // 1000,
                        json.dumps(dict(r.values)),
                    )
                    for r in records
                ],
            )
            return db.total_changes - before

    def read(self, keys: Sequence[OnlineKey]) -> dict[OnlineKey, OnlineRecord]:
        by_pk = {k.pk: k for k in keys}
        pks = list(by_pk)
        found: dict[OnlineKey, OnlineRecord] = {}
        db = self._db()
        for start in range(0, len(pks), CHUNK):
            chunk = pks[start : start + CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = db.execute(
                "SELECT pk, event_ms, created_ms, deleted, features FROM online_features "  # noqa: S608 - only placeholders
                f"WHERE pk IN ({marks})",
                chunk,
            ).fetchall()
            for pk, event_ms, created_ms, deleted, features in rows:
                key = by_pk[pk]
                found[key] = OnlineRecord(
                    key.entity, event_ms, created_ms, json.loads(features), bool(deleted)
                )
        return found
