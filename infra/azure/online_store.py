"""The online feature store on Azure Table Storage: one entity per feature-store entity and
view version, features as typed properties (`f_<name>`: Double, Int64, String, Boolean; a null
is an absent property).

PartitionKey `<view>-<version>`, RowKey the entity id (percent-encoded: / \\ # ? are not
allowed in keys). The write rule (latest event time wins) as optimistic concurrency: create if
absent; else read, and replace only if the record is newer and only if the entity's ETag is
still the one read (`IfNotModified`); a lost race is retried, so the decision is always made
against what is stored. Reads: one query per view version, up to 50 keys an `or` filter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, unquote

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import EdmType, EntityProperty, TableClient, UpdateMode

from mlops_template.core.features.online import OnlineKey, OnlineRecord

PREFIX = "f_"
QUERY_KEYS = 50
ATTEMPTS = 10


def partition(view: str, version: str) -> str:
    return f"{view}-{version}"


def _property(value: Any) -> Any:
    if isinstance(value, bool | float | str):
        return value
    if isinstance(value, int):
        return EntityProperty(value, EdmType.INT64)
    return str(value)


class TableOnlineStore:
    def __init__(self, table: TableClient) -> None:
        self.table = table

    def _entity(self, view: str, version: str, record: OnlineRecord, ttl_ms: int) -> dict[str, Any]:
        entity: dict[str, Any] = {
            "PartitionKey": partition(view, version),
            "RowKey": quote(record.entity, safe=""),
            "event_ms": EntityProperty(record.event_ms, EdmType.INT64),
            "created_ms": EntityProperty(record.created_ms, EdmType.INT64),
            "deleted": record.deleted,
            "expires_at": EntityProperty((record.event_ms + ttl_ms) // 1000, EdmType.INT64),
        }
        for name, value in record.values.items():
            if value is not None:
                entity[PREFIX + name] = _property(value)
        return entity

    def _put(self, view: str, version: str, record: OnlineRecord, ttl_ms: int) -> bool:
        entity = self._entity(view, version, record, ttl_ms)
        for _ in range(ATTEMPTS):
            try:
                self.table.create_entity(entity)
                return True
            except ResourceExistsError:
                pass
            try:
                stored = self.table.get_entity(entity["PartitionKey"], entity["RowKey"])
            except ResourceNotFoundError:
                continue  # deleted since: create again
            if (int(_plain(stored["event_ms"])), int(_plain(stored["created_ms"]))) >= (
                record.event_ms,
                record.created_ms,
            ):
                return False  # the stored record is as new or newer
            try:
                self.table.update_entity(
                    entity,
                    mode=UpdateMode.REPLACE,
                    etag=stored.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
                return True
            except (ResourceModifiedError, ResourceNotFoundError):
                continue  # another writer got there first: decide again against theirs
        raise RuntimeError(f"online feature write kept racing on {record.entity!r}")

    def write(
        self, view: str, version: str, records: Sequence[OnlineRecord], *, ttl_ms: int
    ) -> int:
        return sum(self._put(view, version, r, ttl_ms) for r in records)

    def read(self, keys: Sequence[OnlineKey]) -> dict[OnlineKey, OnlineRecord]:
        by_partition: dict[str, dict[str, OnlineKey]] = {}
        for key in keys:
            by_partition.setdefault(partition(key.view, key.version), {})[
                quote(key.entity, safe="")
            ] = key
        found: dict[OnlineKey, OnlineRecord] = {}
        for pk, rows in by_partition.items():
            names = list(rows)
            for start in range(0, len(names), QUERY_KEYS):
                chunk = names[start : start + QUERY_KEYS]
                params = {"pk": pk, **{f"r{i}": r for i, r in enumerate(chunk)}}
                ors = " or ".join(f"RowKey eq @r{i}" for i in range(len(chunk)))
                for entity in self.table.query_entities(
                    # Spaces around each @name: the SDK substitutes whole words only.
                    f"PartitionKey eq @pk and ( {ors} )",
                    parameters=params,
                ):
                    key = rows[entity["RowKey"]]
                    found[key] = OnlineRecord(
                        entity=unquote(entity["RowKey"]),
                        event_ms=int(_plain(entity["event_ms"])),
                        created_ms=int(_plain(entity["created_ms"])),
                        values={
                            k[len(PREFIX) :]: _plain(v)
                            for k, v in entity.items()
                            if k.startswith(PREFIX)
                        },
                        deleted=bool(entity.get("deleted", False)),
                    )
        return found


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, EntityProperty) else value
