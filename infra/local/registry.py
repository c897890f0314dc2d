"""The model registry in SQLite: versions, stage aliases and history in one database file.

Every write is one `BEGIN IMMEDIATE` transaction, so the alias update and its history event land
together or not at all, and concurrent writers (threads or processes) are serialised.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from mlops_template.core.records import ModelVersion, RunRecord, StageAlias, StageEvent
from mlops_template.core.registry import (
    RegistryUnavailable,
    RunNotFound,
    StaleStageError,
    VersionExists,
    VersionNotFound,
)
from mlops_template.infra.local.sqlite import connect

SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    model TEXT NOT NULL, version INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (model, version));
CREATE TABLE IF NOT EXISTS counters (model TEXT PRIMARY KEY, last INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS aliases (
    model TEXT NOT NULL, stage TEXT NOT NULL, revision INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (model, stage));
CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, model TEXT NOT NULL, stage TEXT NOT NULL,
    body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    model TEXT NOT NULL, run_id TEXT NOT NULL, started_at TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (model, run_id));
"""


class SqliteRegistry:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._database() as db:
            db.executescript(SCHEMA)

    @contextmanager
    def _database(self) -> Iterator[sqlite3.Connection]:
        """A connection; SQLite's own failures become one RegistryUnavailable that says what to
        do (a registry rebuilt from nothing would reissue version numbers: never do that here)."""
        try:
            with closing(connect(self.path)) as db:
                yield db
        except sqlite3.IntegrityError:
            raise
        except sqlite3.OperationalError as exc:
            if "readonly" in str(exc):
                message = f"cannot write the registry {self.path}: it is read-only here"
            else:
                message = f"cannot use the registry {self.path}: {exc}"
            raise RegistryUnavailable(message) from None
        except sqlite3.DatabaseError as exc:
            raise RegistryUnavailable(
                f"the registry {self.path} is damaged ({exc}): restore it from a backup"
            ) from None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._database() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _read(self, sql: str, *args: object) -> list[tuple[str, ...]]:
        with self._database() as db:
            return db.execute(sql, args).fetchall()

    def allocate_version(self, model: str) -> int:
        with self._write() as db:
            db.execute(
                "INSERT INTO counters(model, last) VALUES (?, 1) "
                "ON CONFLICT(model) DO UPDATE SET last = last + 1",
                (model,),
            )
            (last,) = db.execute("SELECT last FROM counters WHERE model = ?", (model,)).fetchone()
            return int(last)

    def register(self, version: ModelVersion) -> ModelVersion:
        with self._write() as db:
            try:
                db.execute(
                    "INSERT INTO versions(model, version, body) VALUES (?, ?, ?)",
                    (version.model, version.version, version.model_dump_json()),
                )
            except sqlite3.IntegrityError:
                raise VersionExists(
                    f"{version.model} v{version.version} is already registered"
                ) from None
        return version

    def get(self, model: str, version: int) -> ModelVersion:
        rows = self._read(
            "SELECT body FROM versions WHERE model = ? AND version = ?", model, version
        )
        if not rows:
            raise VersionNotFound(f"{model} v{version} is not registered")
        return ModelVersion.model_validate_json(rows[0][0])

    def versions(self, model: str) -> list[ModelVersion]:
        rows = self._read("SELECT body FROM versions WHERE model = ? ORDER BY version", model)
        return [ModelVersion.model_validate_json(r[0]) for r in rows]

    def models(self) -> list[str]:
        return [r[0] for r in self._read("SELECT DISTINCT model FROM versions ORDER BY model")]

    def alias(self, model: str, stage: str) -> StageAlias | None:
        rows = self._read("SELECT body FROM aliases WHERE model = ? AND stage = ?", model, stage)
        return StageAlias.model_validate_json(rows[0][0]) if rows else None

    def aliases(self, model: str) -> dict[str, StageAlias]:
        rows = self._read("SELECT body FROM aliases WHERE model = ? ORDER BY stage", model)
        found = [StageAlias.model_validate_json(r[0]) for r in rows]
        return {a.stage: a for a in found}

    def move_alias(
        self, model: str, stage: str, new: StageAlias, *, expected_revision: int, event: StageEvent
    ) -> None:
        with self._write() as db:
            if expected_revision == 0:
                changed = db.execute(
                    "INSERT INTO aliases(model, stage, revision, body) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(model, stage) DO NOTHING",
                    (model, stage, new.revision, new.model_dump_json()),
                ).rowcount
            else:
                changed = db.execute(
                    "UPDATE aliases SET revision = ?, body = ? "
                    "WHERE model = ? AND stage = ? AND revision = ?",
                    (new.revision, new.model_dump_json(), model, stage, expected_revision),
                ).rowcount
            if changed != 1:
                raise StaleStageError(
                    f"{stage} of {model} moved since it was read (expected revision "
                    f"{expected_revision}); read it again and retry"
                )
            db.execute(
                "INSERT INTO history(model, stage, body) VALUES (?, ?, ?)",
                (model, stage, event.model_dump_json()),
            )

    def history(self, model: str, stage: str | None = None) -> list[StageEvent]:
        if stage is None:
            rows = self._read("SELECT body FROM history WHERE model = ? ORDER BY seq", model)
        else:
            rows = self._read(
                "SELECT body FROM history WHERE model = ? AND stage = ? ORDER BY seq", model, stage
            )
        return [StageEvent.model_validate_json(r[0]) for r in rows]

    def save_run(self, run: RunRecord) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO runs (model, run_id, started_at, body) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (model, run_id) DO UPDATE SET body = excluded.body",
                (run.model, run.run_id, run.started_at, run.model_dump_json()),
            )

    def get_run(self, model: str, run_id: str) -> RunRecord:
        rows = self._read("SELECT body FROM runs WHERE model = ? AND run_id = ?", model, run_id)
        if not rows:
            raise RunNotFound(f"no run {run_id} of {model}")
        return RunRecord.model_validate_json(rows[0][0])

    def runs(self, model: str) -> list[RunRecord]:
        rows = self._read(
            "SELECT body FROM runs WHERE model = ? ORDER BY started_at DESC, run_id DESC", model
        )
        return [RunRecord.model_validate_json(body) for (body,) in rows]
