"""The online store's port: the latest value of each entity's features, per view version.

The write rule is SageMaker Feature Store's: the latest event time wins. A record older than
the one stored (by `event_ms`, then `created_ms`) is refused, so replaying history, a late
batch or a stream delivered out of order never overwrites a newer value. Each adapter makes
that decision inside one conditional write (DynamoDB's condition expression, SQLite's
`ON CONFLICT ... WHERE`, an ETag on Azure Table), never as a read then a write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class OnlineKey:
    view: str
    version: str
    entity: str

    @property
    def pk(self) -> str:
        return f"{self.view}#{self.version}#{self.entity}"


@dataclass(frozen=True)
class OnlineRecord:
    entity: str
    event_ms: int
    created_ms: int = 0
    values: Mapping[str, Any] = field(default_factory=dict)
    deleted: bool = False

    def newer_than(self, other: OnlineRecord) -> bool:
        return (self.event_ms, self.created_ms) > (other.event_ms, other.created_ms)


class OnlineStore(Protocol):
    def write(
        self, view: str, version: str, records: Sequence[OnlineRecord], *, ttl_ms: int
    ) -> int:
        """Store each record unless the stored one is as new or newer; returns how many were
        stored. Each record's expiry (the store's TTL attribute) is its event time + `ttl_ms`."""
        ...

    def read(self, keys: Sequence[OnlineKey]) -> dict[OnlineKey, OnlineRecord]:
        """The stored records of these keys (absent keys are left out), in one batched read."""
        ...


class InMemoryOnlineStore:
    """The rule in its plainest form (tests and the demo's reference)."""

    def __init__(self) -> None:
        self.items: dict[OnlineKey, OnlineRecord] = {}

    def write(
        self, view: str, version: str, records: Sequence[OnlineRecord], *, ttl_ms: int
    ) -> int:
        stored = 0
        for record in records:
            key = OnlineKey(view, version, record.entity)
            old = self.items.get(key)
            if old is None or record.newer_than(old):
                self.items[key] = record
                stored += 1
        return stored

    def read(self, keys: Sequence[OnlineKey]) -> dict[OnlineKey, OnlineRecord]:
        return {k: self.items[k] for k in keys if k in self.items}
