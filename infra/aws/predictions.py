"""The PredictionLog port on DynamoDB: one item per captured prediction, expiring after a TTL.

Table: partition key `prediction_id`; global secondary index `by_model` (model, at) for the
monitor's "newest captured predictions of a model" query.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from typing import Any

from botocore.exceptions import ClientError

from mlops_template.core.records import FeedbackOutcome, PredictionRecord, feature_text
from mlops_template.infra.aws.clients import client, error_code

BATCH = 25  # BatchWriteItem limit
BY_MODEL_INDEX = "by_model"


class DynamoPredictionLog:
    def __init__(self, table: str, *, ttl_days: int = 30, dynamodb: Any = None) -> None:
        if not table:
            raise ValueError("no predictions table: set MLOPS_PREDICTIONS_TABLE")
        self.table = table
        self.ttl_seconds = ttl_days * 86400
        self._db = dynamodb or client("dynamodb")

    def record(self, predictions: Sequence[PredictionRecord]) -> None:
        expires = str(int(time.time()) + self.ttl_seconds)
        requests = [
            {
                "PutRequest": {
                    "Item": {
                        "prediction_id": {"S": p.prediction_id},
                        "model": {"S": p.model},
                        "at": {"S": p.at},
                        "version": {"N": str(p.version)},
                        "body": {"S": p.model_dump_json(exclude={"true_label"})},
                        "expires_at": {"N": expires},
                    }
                }
            }
            for p in predictions
        ]
        for start in range(0, len(requests), BATCH):
            pending: dict[str, Any] = {self.table: requests[start : start + BATCH]}
            for attempt in range(5):
                unprocessed = self._db.batch_write_item(RequestItems=pending).get(
                    "UnprocessedItems", {}
                )
                if not unprocessed:
                    break
                pending = unprocessed
                time.sleep(0.05 * 2**attempt)
            else:
                raise RuntimeError(f"DynamoDB kept throttling writes to {self.table}")

    def add_feedback(self, prediction_id: str, label: str) -> FeedbackOutcome:
        try:
            self._db.update_item(
                TableName=self.table,
                Key={"prediction_id": {"S": prediction_id}},
                UpdateExpression="SET true_label = :label",
                # Write-once: the condition makes DynamoDB refuse a second label atomically.
                ConditionExpression="attribute_exists(prediction_id) AND "
                "attribute_not_exists(true_label)",
                ExpressionAttributeValues={":label": {"S": label}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                # The item as it was when the condition failed: absent, or already labelled.
                return "already_labelled" if exc.response.get("Item") else "unknown"
            raise
        return "recorded"

    def recent(self, model: str, *, limit: int = 10_000) -> list[PredictionRecord]:
        records: list[PredictionRecord] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": BY_MODEL_INDEX,
            "KeyConditionExpression": "#model = :model",
            "ExpressionAttributeNames": {"#model": "model"},
            "ExpressionAttributeValues": {":model": {"S": model}},
            "ScanIndexForward": False,
        }
        while len(records) < limit:
            page = self._db.query(**kwargs, Limit=min(1000, limit - len(records)))
            for item in page.get("Items", []):
                record = PredictionRecord.model_validate_json(item["body"]["S"])
                if "true_label" in item:
                    record.true_label = item["true_label"]["S"]
                records.append(record)
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return records

    def forget(self, model: str, key: str, values: Collection[str]) -> int:
        """Every item of the model is read through the by_model index (DynamoDB cannot filter
        inside the JSON body) and the matching ones deleted by key."""
        wanted = {str(v) for v in values}
        doomed = [
            p.prediction_id
            for p in self.recent(model, limit=10**9)
            if feature_text(p.features.get(key)) in wanted
        ]
        for start in range(0, len(doomed), BATCH):
            pending: dict[str, Any] = {
                self.table: [
                    {"DeleteRequest": {"Key": {"prediction_id": {"S": pid}}}}
                    for pid in doomed[start : start + BATCH]
                ]
            }
            for attempt in range(5):
                pending = self._db.batch_write_item(RequestItems=pending).get(
                    "UnprocessedItems", {}
                )
                if not pending:
                    break
                time.sleep(0.05 * 2**attempt)
            else:
                raise RuntimeError(f"DynamoDB kept throttling deletes from {self.table}")
        return len(doomed)
