"""The ModelRegistry port on one Azure Table (PartitionKey = the model, so every write of a model
is inside one partition and can be one entity-group transaction).

    PartitionKey = <model>   RowKey = counter                          last allocated version
                             RowKey = version-<0000000001>             one entity per version
                             RowKey = alias-<stage>                    stage -> version, revision
                             RowKey = history-<at>-<stage>-<revision>  one entity per stage move
                             RowKey = run-<run id>                     one entity per training run

The counter moves by ETag-conditional replace (retried when another writer got there first), so
a number is never handed out twice. A stage move is one transaction: the alias replace
conditional on the ETag of the revision the caller read (or a create, for revision 0) plus the
history create; a stale ETag or an existing alias refuses both.
"""

from __future__ import annotations

import random
import time
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableClient, TableEntity, TableTransactionError, UpdateMode

from mlops_template.core.records import ModelVersion, RunRecord, StageAlias, StageEvent
from mlops_template.core.registry import (
    RunNotFound,
    StaleStageError,
    VersionExists,
    VersionNotFound,
)
from mlops_template.infra.azure.tables import pack, prefixed, unpack

COUNTER = "counter"
ATTEMPTS = 100  # optimistic retries of the counter under contention


def _version_row(version: int) -> str:
    return f"version-{version:010d}"


def _stale(model: str, stage: str, expected_revision: int) -> StaleStageError:
    return StaleStageError(
        f"{stage} of {model} moved since it was read (expected revision "
        f"{expected_revision}); read it again and retry"
    )


class TableRegistry:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def _entity(self, model: str, row: str) -> TableEntity | None:
        try:
            return self._table.get_entity(model, row)
        except ResourceNotFoundError:
            return None

    def allocate_version(self, model: str) -> int:
        for attempt in range(ATTEMPTS):
            counter = self._entity(model, COUNTER)
            try:
                if counter is None:
                    self._table.create_entity({"PartitionKey": model, "RowKey": COUNTER, "last": 1})
                    return 1
                last = int(counter["last"]) + 1
                self._table.update_entity(
                    {"PartitionKey": model, "RowKey": COUNTER, "last": last},
                    mode=UpdateMode.REPLACE,
                    etag=counter.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
                return last
            except (ResourceExistsError, ResourceModifiedError):
                time.sleep(random.uniform(0, 0.01 * min(attempt + 1, 10)))
        raise RuntimeError(f"could not allocate a version of {model}: too much contention")

    def register(self, version: ModelVersion) -> ModelVersion:
        try:
            self._table.create_entity(
                {
                    "PartitionKey": version.model,
                    "RowKey": _version_row(version.version),
                    "version": version.version,
                    "gate_passed": version.gate_passed,
                    "created_at": version.created_at,
                    **pack(version.model_dump_json()),
                }
            )
        except ResourceExistsError:
            raise VersionExists(
                f"{version.model} v{version.version} is already registered"
            ) from None
        return version

    def get(self, model: str, version: int) -> ModelVersion:
        entity = self._entity(model, _version_row(version))
        if entity is None:
            raise VersionNotFound(f"{model} v{version} is not registered")
        return ModelVersion.model_validate_json(unpack(entity))

    def versions(self, model: str) -> list[ModelVersion]:
        return [
            ModelVersion.model_validate_json(unpack(e))
            for e in prefixed(self._table, model, "version-")
        ]

    def models(self) -> list[str]:
        counters = self._table.query_entities(
            "RowKey eq @counter", parameters={"counter": COUNTER}, select=["PartitionKey"]
        )
        return sorted({e["PartitionKey"] for e in counters})

    def alias(self, model: str, stage: str) -> StageAlias | None:
        entity = self._entity(model, f"alias-{stage}")
        return StageAlias.model_validate_json(unpack(entity)) if entity else None

    def aliases(self, model: str) -> dict[str, StageAlias]:
        found = [
            StageAlias.model_validate_json(unpack(e))
            for e in prefixed(self._table, model, "alias-")
        ]
        return {a.stage: a for a in found}

    def move_alias(
        self, model: str, stage: str, new: StageAlias, *, expected_revision: int, event: StageEvent
    ) -> None:
        alias = {
            "PartitionKey": model,
            "RowKey": f"alias-{stage}",
            "version": new.version,
            "revision": new.revision,
            **pack(new.model_dump_json()),
        }
        if expected_revision == 0:
            write: tuple[Any, ...] = ("create", alias)
        else:
            # The ETag of the revision the caller expects: if anyone moved the alias since, the
            # service refuses the replace (and with it the whole transaction).
            current = self._entity(model, f"alias-{stage}")
            if current is None or current.get("revision") != expected_revision:
                raise _stale(model, stage, expected_revision)
            write = (
                "update",
                alias,
                {
                    "mode": UpdateMode.REPLACE,
                    "etag": current.metadata["etag"],
                    "match_condition": MatchConditions.IfNotModified,
                },
            )
        history = {
            "PartitionKey": model,
            "RowKey": f"history-{event.at}-{stage}-{event.revision:08d}",
            **pack(event.model_dump_json()),
        }
        try:
            self._table.submit_transaction([write, ("create", history)])
        except TableTransactionError:
            raise _stale(model, stage, expected_revision) from None

    def history(self, model: str, stage: str | None = None) -> list[StageEvent]:
        events = [
            StageEvent.model_validate_json(unpack(e))
            for e in prefixed(self._table, model, "history-")
        ]
        return [e for e in events if stage is None or e.stage == stage]

    def save_run(self, run: RunRecord) -> None:
        self._table.upsert_entity(
            {
                "PartitionKey": run.model,
                "RowKey": f"run-{run.run_id}",
                **pack(run.model_dump_json()),
            },
            mode=UpdateMode.REPLACE,
        )

    def get_run(self, model: str, run_id: str) -> RunRecord:
        entity = self._entity(model, f"run-{run_id}")
        if entity is None:
            raise RunNotFound(f"no run {run_id} of {model}")
        return RunRecord.model_validate_json(unpack(entity))

    def runs(self, model: str) -> list[RunRecord]:
        found = [
            RunRecord.model_validate_json(unpack(e)) for e in prefixed(self._table, model, "run-")
        ]
        return sorted(found, key=lambda r: (r.started_at, r.run_id), reverse=True)
