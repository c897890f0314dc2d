"""The PredictionLog port on AWS: captures through Amazon Data Firehose to S3, feedback in
DynamoDB.

A `record` call sends its captures as one `PutRecordBatch` (JSON lines); the delivery stream
buffers them and writes large objects under captures/model=/version=/date=/ (dynamic
partitioning, terraform/modules/registry). Feedback is rare: one item per labelled prediction
(partition key `prediction_id`, index `by_model` on (model, at)), written once, joined to the
captures by id when they are read.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from botocore.exceptions import ClientError

from mlops_template.core.captures import CaptureReader, encode
from mlops_template.core.records import FeedbackOutcome, PredictionRecord, utc_now
from mlops_template.infra.aws.clients import client, error_code, quick_client

BATCH = 500  # PutRecordBatch: at most 500 records and 4 MiB a call
BATCH_BYTES = 4 * 1024 * 1024
BY_MODEL_INDEX = "by_model"
READ_CHUNK = 1024 * 1024

# The delivery stream's dynamic partitioning (terraform/modules/registry sets these; a test holds
# the two together): keys read from each record by jq, the S3 prefix they fill, and where
# records Firehose could not deliver go instead.
PARTITION_QUERY = "{model: .model, version: (.version | tostring), date: .at[0:10]}"
PARTITION_PREFIX = (
    "captures/model=!{partitionKeyFromQuery:model}/version=!{partitionKeyFromQuery:version}/"
    "date=!{partitionKeyFromQuery:date}/"
)
ERROR_PREFIX = "capture-errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/"


class CaptureNotDelivered(RuntimeError):
    """Firehose refused some captures, even after a retry."""


class FirehosePredictionLog(CaptureReader):
    def __init__(
        self,
        stream: str,
        bucket: str,
        feedback_table: str,
        *,
        ttl_days: int = 30,
        firehose: Any = None,
        s3: Any = None,
        dynamodb: Any = None,
    ) -> None:
        if not stream:
            raise ValueError("no capture stream: set MLOPS_CAPTURE_STREAM")
        if not feedback_table:
            raise ValueError("no feedback table: set MLOPS_PREDICTIONS_TABLE")
        self.stream, self.bucket, self.table = stream, bucket, feedback_table
        self.ttl_seconds = ttl_days * 86400
        # A capture is sent inside the request: short timeouts, one retry, so a slow or absent
        # stream costs a prediction milliseconds, not the whole timeout.
        self._firehose = firehose or quick_client("firehose")
        self._s3 = s3 or client("s3")
        self._db = dynamodb or client("dynamodb")

    def record(self, predictions: Sequence[PredictionRecord]) -> None:
        batch: list[dict[str, bytes]] = []
        size = 0
        for p in predictions:
            line = encode(p)
            if batch and (len(batch) == BATCH or size + len(line) > BATCH_BYTES):
                self._send(batch)
                batch, size = [], 0
            batch.append({"Data": line})
            size += len(line)
        if batch:
            self._send(batch)

    def _send(self, records: list[dict[str, bytes]]) -> None:
        for attempt in range(2):
            answer = self._firehose.put_record_batch(
                DeliveryStreamName=self.stream, Records=records
            )
            if not answer.get("FailedPutCount"):
                return
            # Only the refused records again (throttling, a passing fault).
            responses = answer["RequestResponses"]
            records = [r for r, out in zip(records, responses, strict=True) if "ErrorCode" in out]
            time.sleep(0.05 * (attempt + 1))
        raise CaptureNotDelivered(f"{len(records)} captures refused by {self.stream}")

    def add_feedback(self, prediction_id: str, label: str, *, model: str) -> FeedbackOutcome:
        try:
            self._db.put_item(
                TableName=self.table,
                Item={
                    "prediction_id": {"S": prediction_id},
                    "model": {"S": model},
                    "at": {"S": utc_now()},
                    "true_label": {"S": label},
                    "expires_at": {"N": str(int(time.time()) + self.ttl_seconds)},
                },
                # Write-once: DynamoDB refuses a second label atomically.
                ConditionExpression="attribute_not_exists(prediction_id)",
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return "already_labelled"
            raise
        return "recorded"

    def feedback(self, model: str, *, since: str = "") -> dict[str, str]:
        labels: dict[str, str] = {}
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": BY_MODEL_INDEX,
            "KeyConditionExpression": "#model = :model",
            "ExpressionAttributeNames": {"#model": "model"},
            "ExpressionAttributeValues": {":model": {"S": model}},
        }
        if since:  # a key condition cannot compare with an empty string
            kwargs["KeyConditionExpression"] += " AND #at >= :since"
            kwargs["ExpressionAttributeNames"]["#at"] = "at"
            kwargs["ExpressionAttributeValues"][":since"] = {"S": since}
        while True:
            page = self._db.query(**kwargs)
            for item in page.get("Items", []):
                labels[item["prediction_id"]["S"]] = item["true_label"]["S"]
            if "LastEvaluatedKey" not in page:
                return labels
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _keys(self, prefix: str) -> Iterable[str]:
        for page in self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            for item in page.get("Contents", []):
                yield item["Key"]

    def _rewrite(self, key: str, data: bytes | None) -> None:
        if data is None:
            self._s3.delete_object(Bucket=self.bucket, Key=key)
        else:
            self._s3.put_object(Bucket=self.bucket, Key=key, Body=data)

    def _chunks(self, key: str) -> Iterator[bytes]:
        body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"]
        yield from body.iter_chunks(chunk_size=READ_CHUNK)
