"""What the Table Storage adapters share: JSON bodies split over properties, prefix queries."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from azure.data.tables import TableClient

# A string property holds at most 64 KiB of UTF-16: 16K characters fit even if every one is a
# surrogate pair. An entity holds at most 1 MiB (and 252 properties).
CHUNK = 16_000


def pack(body: str) -> dict[str, str]:
    """A JSON body as properties body, body1, body2...: records larger than one property fit."""
    parts = [body[i : i + CHUNK] for i in range(0, len(body), CHUNK)] or [""]
    return {f"body{i or ''}": part for i, part in enumerate(parts)}


def unpack(entity: dict[str, Any]) -> str:
    parts, i = [], 0
    while (part := entity.get(f"body{i or ''}")) is not None:
        parts.append(part)
        i += 1
    return "".join(parts)


def prefixed(
    table: TableClient, partition: str, prefix: str, *, page: int | None = None
) -> Iterator[dict[str, Any]]:
    """The partition's entities whose RowKey starts with `prefix`, in RowKey order."""
    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return iter(
        table.query_entities(
            "PartitionKey eq @pk and RowKey ge @start and RowKey lt @end",
            parameters={"pk": partition, "start": prefix, "end": end},
            results_per_page=page,
        )
    )
