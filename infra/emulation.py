"""An AWS account in this process (moto): the resources Terraform creates, the Lambda handlers
invoked with the events AWS sends, and an HTTP API client that speaks API Gateway's payload v2.

Used by `mlops demo --aws-emulated` and by the tests. It wires `functions/` handlers, so it
imports them lazily: nothing else in `infra` depends on `functions`.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from infra.settings import Settings, settings_env

REGION = "us-east-1"
ACCOUNT = "123456789012"


# -- resources, as terraform/modules/{storage,registry} define them --------------------------


def create_buckets(s3: Any, *names: str) -> None:
    for name in names:
        s3.create_bucket(Bucket=name)
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"},
                        "BucketKeyEnabled": True,
                    }
                ]
            },
        )
        s3.put_public_access_block(
            Bucket=name,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )


def create_tables(dynamodb: Any, settings: Settings) -> None:
    common = {
        "BillingMode": "PAY_PER_REQUEST",
        "SSESpecification": {"Enabled": True, "SSEType": "KMS"},
    }
    dynamodb.create_table(
        TableName=settings.registry_table,
        KeySchema=[
            {"AttributeName": "PK", "KeyType": "HASH"},
            {"AttributeName": "SK", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "PK", "AttributeType": "S"},
            {"AttributeName": "SK", "AttributeType": "S"},
        ],
        **common,
    )
    dynamodb.create_table(
        TableName=settings.predictions_table,
        KeySchema=[{"AttributeName": "prediction_id", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "prediction_id", "AttributeType": "S"},
            {"AttributeName": "model", "AttributeType": "S"},
            {"AttributeName": "at", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_model",
                "KeySchema": [
                    {"AttributeName": "model", "KeyType": "HASH"},
                    {"AttributeName": "at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        **common,
    )
    dynamodb.create_table(
        TableName=settings.idempotency_table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        **common,
    )


def emulated_settings(prefix: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "backend": "aws",
        "model_name": "breast-cancer",
        "data_bucket": f"{prefix}-data",
        "artifact_bucket": f"{prefix}-artifacts",
        "registry_table": f"{prefix}-registry",
        "predictions_table": f"{prefix}-predictions",
        "idempotency_table": f"{prefix}-idempotency",
        "state_machine_arn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{prefix}-pipeline",
        "model_refresh_seconds": 0,
        "metrics_namespace": "MLOps",
    }
    values.update(overrides)
    return Settings(**values)


def create_resources(settings: Settings) -> None:
    import boto3

    create_buckets(
        boto3.client("s3", region_name=REGION), settings.data_bucket, settings.artifact_bucket
    )
    create_tables(boto3.client("dynamodb", region_name=REGION), settings)


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def use_settings(settings: Settings) -> None:
    """Point the handlers (which read the environment) at these settings."""
    os.environ.update(settings_env(settings))
    from functions import runtime
    from functions.inference import handler

    runtime.reset()
    handler.reset()


@contextmanager
def moto_patches() -> Iterator[None]:
    """Where moto falls short of AWS for what we test, and how we bridge it. This uses moto's
    private API: moto is pinned in pyproject.toml and its patches live here only.

    - DynamoDB serialises conflicting writes; moto's in-process backend is not thread-safe
      (TransactWriteItems deep-copies tables while other threads write), so requests to it are
      serialised with a lock. Threads still race to send their conditional writes.
    """
    import threading
    from unittest import mock

    from moto.dynamodb.responses import DynamoHandler

    lock = threading.RLock()
    original = DynamoHandler.call_action

    def serialised(self: Any) -> Any:
        with lock:
            return original(self)

    with mock.patch.object(DynamoHandler, "call_action", serialised):
        yield


FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


@contextmanager
def emulated_aws(prefix: str = "mlops-demo", **overrides: Any) -> Iterator[Settings]:
    """moto for the whole block: fake credentials, resources created, handlers pointed at them."""
    try:
        from moto import mock_aws
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError("the AWS emulator needs moto: pip install '.[dev]'") from exc
    settings = emulated_settings(prefix, **overrides)
    names = [*FAKE_CREDENTIALS, *settings_env(settings), "AWS_ENDPOINT_URL"]
    saved = {k: os.environ.get(k) for k in names}
    os.environ.pop("AWS_ENDPOINT_URL", None)
    with (
        environment(FAKE_CREDENTIALS),
        moto_patches(),
        mock_aws(config={"stepfunctions": {"execute_state_machine": True}}),
    ):
        use_settings(settings)
        create_resources(settings)
        try:
            yield settings
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            from functions import runtime

            runtime.reset()


# -- Lambda: a context and the handlers as pipeline tasks ------------------------------------


@dataclass
class LambdaContext:
    """What the Lambda runtime passes as `context` (the fields Powertools reads)."""

    function_name: str = "mlops-function"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1024
    aws_request_id: str = ""
    log_group_name: str = "/aws/lambda/mlops-function"
    log_stream_name: str = "local"

    def __post_init__(self) -> None:
        self.aws_request_id = self.aws_request_id or str(uuid.uuid4())
        self.invoked_function_arn = (
            f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"
        )

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def handler_tasks() -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
    """The pipeline's tasks run by the Lambda handlers themselves, with JSON state in and out."""
    from functions import evaluate, register, train, validate

    def task(fn: Callable[..., Any], name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
        def call(state: dict[str, Any]) -> dict[str, Any]:
            result: dict[str, Any] = fn(
                json.loads(json.dumps(state)), LambdaContext(function_name=f"mlops-{name}")
            )
            return result

        return call

    return {
        "validate": task(validate.handler, "validate"),
        "train": task(train.handler, "train"),
        "evaluate": task(evaluate.handler, "evaluate"),
        "register": task(register.handler, "register"),
    }


# -- API Gateway HTTP API (payload v2) ------------------------------------------------------


class ApiResponse:
    def __init__(self, status_code: int, body: str, headers: dict[str, str]) -> None:
        self.status_code = status_code
        self.text = body
        self.headers = headers

    def json(self) -> Any:
        return json.loads(self.text)

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise RuntimeError(f"HTTP {self.status_code}: {self.text[:500]}")


def http_api_event(
    method: str, path: str, body: str | None = None, *, stage: str = "$default"
) -> dict[str, Any]:
    """An HTTP API payload v2 event, as API Gateway sends it to the function."""
    now = time.time()
    headers = {
        "content-type": "application/json",
        "host": "api.example.com",
        "user-agent": "mlops-demo",
    }
    if body is not None:
        headers["content-length"] = str(len(body.encode()))
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path if stage == "$default" else f"/{stage}{path}",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "emulated",
            "domainName": "api.example.com",
            "domainPrefix": "api",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "mlops-demo",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": stage,
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": body,
        "isBase64Encoded": False,
    }


class LambdaApiClient:
    """Calls the inference handler with API Gateway events, like the deployed API would."""

    def __init__(self, handler: Callable[[dict[str, Any], Any], dict[str, Any]]) -> None:
        self.handler = handler

    def request(self, method: str, path: str, json_body: Any = None) -> ApiResponse:
        body = None if json_body is None else json.dumps(json_body)
        response = self.handler(
            http_api_event(method, path, body), LambdaContext(function_name="mlops-inference")
        )
        return ApiResponse(
            response["statusCode"], response.get("body") or "", response.get("headers") or {}
        )

    def get(self, path: str) -> ApiResponse:
        return self.request("GET", path)

    def post(self, path: str, json: Any = None) -> ApiResponse:
        return self.request("POST", path, json)
