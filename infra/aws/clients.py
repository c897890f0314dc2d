"""boto3 clients, created once per process (Lambda reuses them across invocations).

boto3 reads AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE>, so the same code talks to AWS,
LocalStack or moto's server.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

# Standard retry mode: exponential backoff with jitter on throttling and 5xx.
_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30
)


@cache
def client(service: str) -> Any:
    return boto3.client(service, config=_CONFIG)  # type: ignore[call-overload]


def error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


# For calls made inside a request whose failure the caller tolerates (captures): fail fast.
_QUICK = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=1, read_timeout=2)


@cache
def quick_client(service: str) -> Any:
    return boto3.client(service, config=_QUICK)  # type: ignore[call-overload]
