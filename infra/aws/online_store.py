"""The online feature store on DynamoDB: one item per entity and view version, features as
native attributes (readable by any tool, not blobs), and the write rule as a condition.

Item: `pk` = "<view>#<version>#<entity>", `entity`, `view`, `version`, `event_ms`, `created_ms`,
`deleted`, `expires_at` (the table's TTL attribute: event time + the view's TTL, in epoch
seconds) and one attribute per feature (N, S, BOOL or NULL). A put is conditional:
`attribute_not_exists(pk) OR event_ms < :t OR (event_ms = :t AND created_ms < :c)`, so an
older record is refused by DynamoDB itself (latest event time wins). Reads: BatchGetItem, 100
keys a call, unprocessed keys retried.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from mlops_template.core.features.online import OnlineKey, OnlineRecord
from mlops_template.infra.aws.clients import client, error_code

CONDITION = "attribute_not_exists(pk) OR event_ms < :t OR (event_ms = :t AND created_ms < :c)"
META = ("pk", "entity", "view", "version", "event_ms", "created_ms", "deleted", "expires_at")
GET_BATCH = 100  # BatchGetItem limit


def _attr(value: Any) -> dict[str, Any]:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": repr(value)}  # repr: the float round-trips exactly
    return {"S": str(value)}


def _value(attr: dict[str, Any]) -> Any:
    if "N" in attr:
        text = attr["N"]
        return float(text) if any(c in text for c in ".eE") else int(text)
    if "S" in attr:
        return attr["S"]
    if "BOOL" in attr:
        return attr["BOOL"]
    return None


class DynamoOnlineStore:
    def __init__(self, table: str, *, dynamodb: Any = None, writers: int = 8) -> None:
        if not table:
            raise ValueError("no online feature table: set MLOPS_FEATURE_TABLE")
        self.table = table
        self._db = dynamodb or client("dynamodb")
        self.writers = writers

    def _put(self, view: str, version: str, record: OnlineRecord, ttl_ms: int) -> bool:
        item = {
            "pk": {"S": OnlineKey(view, version, record.entity).pk},
            "entity": {"S": record.entity},
            "view": {"S": view},
            "version": {"S": version},
            "event_ms": {"N": str(record.event_ms)},
            "created_ms": {"N": str(record.created_ms)},
            "deleted": {"BOOL": record.deleted},
            "expires_at": {"N": str((record.event_ms + ttl_ms) // 1000)},
            **{name: _attr(value) for name, value in record.values.items()},
        }
        try:
            self._db.put_item(
                TableName=self.table,
                Item=item,
                ConditionExpression=CONDITION,
                ExpressionAttributeValues={
                    ":t": {"N": str(record.event_ms)},
                    ":c": {"N": str(record.created_ms)},
                },
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False  # the stored record is as new or newer
            raise
        return True

    def write(
        self, view: str, version: str, records: Sequence[OnlineRecord], *, ttl_ms: int
    ) -> int:
        # BatchWriteItem takes no conditions: one conditional PutItem per record, in parallel.
        if len(records) <= 1:
            return sum(self._put(view, version, r, ttl_ms) for r in records)
        with ThreadPoolExecutor(self.writers) as pool:
            return sum(pool.map(lambda r: self._put(view, version, r, ttl_ms), records))

    def read(self, keys: Sequence[OnlineKey]) -> dict[OnlineKey, OnlineRecord]:
        by_pk = {k.pk: k for k in keys}
        pks = list(by_pk)
        found: dict[OnlineKey, OnlineRecord] = {}
        for start in range(0, len(pks), GET_BATCH):
            pending: dict[str, Any] = {
                self.table: {"Keys": [{"pk": {"S": pk}} for pk in pks[start : start + GET_BATCH]]}
            }
            for attempt in range(6):
                answer = self._db.batch_get_item(RequestItems=pending)
                for item in answer.get("Responses", {}).get(self.table, []):
                    key = by_pk[item["pk"]["S"]]
                    found[key] = OnlineRecord(
                        entity=key.entity,
                        event_ms=int(item["event_ms"]["N"]),
                        created_ms=int(item["created_ms"]["N"]),
                        values={k: _value(v) for k, v in item.items() if k not in META},
                        deleted=bool(item.get("deleted", {}).get("BOOL", False)),
                    )
                pending = answer.get("UnprocessedKeys") or {}
                if not pending:
                    break
                time.sleep(0.02 * 2**attempt)
            else:
                raise RuntimeError(f"DynamoDB kept throttling reads of {self.table}")
        return found
