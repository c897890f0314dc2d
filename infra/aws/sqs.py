"""Streaming scoring's results on an SQS queue."""

from __future__ import annotations

from mlops_template.infra.aws.clients import client


class SqsResultQueue:
    def __init__(self, queue_url: str) -> None:
        if not queue_url:
            raise ValueError("MLOPS_STREAM_OUTPUT_QUEUE_URL is not set")
        self.queue_url = queue_url

    def send(self, body: str) -> None:
        client("sqs").send_message(QueueUrl=self.queue_url, MessageBody=body)
