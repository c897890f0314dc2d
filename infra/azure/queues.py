"""Azure Storage queues: the pipeline's step queues and streaming scoring's result queue.

Messages are Base64-encoded, the Functions host's default `messageEncoding`, so a queue trigger
reads exactly what was sent here.
"""

from __future__ import annotations

import contextlib

from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueServiceClient, TextBase64EncodePolicy


class StorageQueues:
    """The chain's StepQueues port: send a message to the named queue of one account."""

    def __init__(self, service: QueueServiceClient) -> None:
        self._service = service

    def send(self, queue: str, body: str, *, delay_seconds: int = 0) -> None:
        client = self._service.get_queue_client(
            queue, message_encode_policy=TextBase64EncodePolicy()
        )
        # A message sent with a visibility timeout is delivered only once it has passed.
        client.send_message(body, visibility_timeout=delay_seconds or None)

    def create(self, names: list[str]) -> None:
        """Create the queues (Terraform does this on Azure; the emulated demo and tests here)."""
        for name in names:
            with contextlib.suppress(ResourceExistsError):
                self._service.create_queue(name)


class StorageResultQueue:
    """The ResultQueue port: streaming scoring's results, one message each."""

    def __init__(self, queues: StorageQueues, name: str) -> None:
        if not name:
            raise ValueError("no result queue: set MLOPS_AZURE_STREAM_OUTPUT_QUEUE (backend azure)")
        self._queues, self._name = queues, name

    def send(self, body: str) -> None:
        self._queues.send(self._name, body)
