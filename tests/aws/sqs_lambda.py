"""What the Lambda service's SQS poller does for an event source mapping with
ReportBatchItemFailures, driven by hand against moto's SQS. moto's own SQS-to-Lambda mapping
invokes the function once per message as it is sent and deletes it unless the function raises
(`batchItemFailures` ignored), never polling again: it cannot show partial failures or redrive.

Receive up to `batch_size` messages (each receive counts towards the queue's maxReceiveCount),
hand them to the function as an SQS event, delete those not reported as failures; a function
that raises fails the whole batch. A failed message becomes visible again after the visibility
timeout (here: at once) and, past maxReceiveCount, moto's redrive moves it to the DLQ.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

REGION = "us-east-1"


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """ReceiveMessage's messages as the SQS event Lambda hands a function."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m.get("MD5OfBody") or hashlib.md5(m["Body"].encode()).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
            for m in messages
        ]
    }


def poll_once(
    sqs: Any,
    queue_url: str,
    handler: Callable[[dict[str, Any], Any], Any],
    context: Any,
    *,
    batch_size: int = 10,
) -> int:
    """One batch: receive, invoke, delete what succeeded. The number of messages received."""
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    received = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=batch_size,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
        VisibilityTimeout=0,  # a failed message is visible again at once
    ).get("Messages", [])
    if not received:
        return 0
    try:
        answer = handler(sqs_event(received, arn), context)
    except Exception:
        return len(received)  # the whole batch failed: nothing is deleted
    failed = {f["itemIdentifier"] for f in (answer or {}).get("batchItemFailures", [])}
    done = [m for m in received if m["MessageId"] not in failed]
    for start in range(0, len(done), 10):
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(done[start : start + 10])
            ],
        )
    return len(received)


def drain(
    sqs: Any,
    queue_url: str,
    handler: Callable[[dict[str, Any], Any], Any],
    context: Any,
    *,
    batch_size: int = 10,
    max_polls: int = 200,
) -> int:
    """Poll until a receive finds nothing; the number of batches handed to the function."""
    for polls in range(max_polls):
        if not poll_once(sqs, queue_url, handler, context, batch_size=batch_size):
            return polls
    raise AssertionError(f"the queue was not drained in {max_polls} polls")


def receive_all(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every message on a queue (received and deleted)."""
    found: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
        "Messages", []
    ):
        found.extend(batch)
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
            ],
        )
    return found
