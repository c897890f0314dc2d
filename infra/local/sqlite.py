"""SQLite connections for the local adapters."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def connect(path: Path) -> sqlite3.Connection:
    """A connection per call (safe across threads): autocommit unless a transaction is begun,
    WAL so readers never block the writer, and a busy timeout that queues concurrent writers."""
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    return db
