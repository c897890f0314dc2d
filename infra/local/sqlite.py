"""SQLite connections for the local adapters."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path


def writable(path: Path) -> bool:
    """Whether this process may write the database (WAL also writes files beside it)."""
    return os.access(path.parent, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))


def connect(path: Path) -> sqlite3.Connection:
    """A connection per call (safe across threads): autocommit unless a transaction is begun,
    WAL so readers never block the writer, and a busy timeout that queues concurrent writers.

    In a read-only MLOPS_HOME the database is opened immutable: reads work (nothing can change it
    from here), and a write fails with "attempt to write a readonly database"."""
    if not writable(path):
        return sqlite3.connect(
            f"{path.resolve().as_uri()}?immutable=1", uri=True, timeout=30, isolation_level=None
        )
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    return db
