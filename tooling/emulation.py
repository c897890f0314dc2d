"""An AWS account in this process (moto): the resources Terraform creates, the Lambda handlers
invoked with the events AWS sends, and an HTTP API client that speaks API Gateway's payload v2.

Used by `mlops demo --aws-emulated` and by the tests: tooling, never inside a Lambda package.
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

from mlops_template.core.pipeline import pipeline_definition, pipeline_steps
from mlops_template.core.settings import Settings, settings_env

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


def create_capture_stream(firehose: Any, settings: Settings) -> None:
    """The captures' delivery stream as terraform/modules/registry defines it: JSON lines to the
    data bucket, dynamically partitioned by model/version/date (moto_patches applies the
    partitioning, which moto itself does not)."""
    from mlops_template.infra.aws.predictions import (
        ERROR_PREFIX,
        PARTITION_PREFIX,
        PARTITION_QUERY,
    )

    firehose.create_delivery_stream(
        DeliveryStreamName=settings.capture_stream,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": f"arn:aws:iam::{ACCOUNT}:role/{settings.capture_stream}",
            "BucketARN": f"arn:aws:s3:::{settings.data_bucket}",
            "Prefix": PARTITION_PREFIX,
            "ErrorOutputPrefix": ERROR_PREFIX,
            "BufferingHints": {"SizeInMBs": 128, "IntervalInSeconds": 300},
            "DynamicPartitioningConfiguration": {"Enabled": True},
            "ProcessingConfiguration": {
                "Enabled": True,
                "Processors": [
                    {
                        "Type": "MetadataExtraction",
                        "Parameters": [
                            {
                                "ParameterName": "MetadataExtractionQuery",
                                "ParameterValue": PARTITION_QUERY,
                            },
                            {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"},
                        ],
                    }
                ],
            },
        },
    )


def export_signing_alias(prefix: str) -> str:
    """The alias of an environment's export signing key (terraform/modules/storage)."""
    return f"alias/{prefix}-export-signing"


def create_export_signing_key(kms: Any, alias: str) -> None:
    key = kms.create_key(KeyUsage="GENERATE_VERIFY_MAC", KeySpec="HMAC_256")
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyMetadata"]["KeyId"])


def emulated_settings(prefix: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "backend": "aws",
        "model_name": "breast-cancer",
        "data_bucket": f"{prefix}-data",
        "artifact_bucket": f"{prefix}-artifacts",
        "registry_table": f"{prefix}-registry",
        "predictions_table": f"{prefix}-predictions",
        "capture_stream": f"{prefix}-captures",
        "idempotency_table": f"{prefix}-idempotency",
        "state_machine_arn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{prefix}-pipeline",
        "batch_state_machine_arn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{prefix}-batch",
        "model_refresh_seconds": 0,
        "metrics_namespace": "MLOps",
        "export_signing_key": export_signing_alias(prefix),
    }
    values.update(overrides)
    return Settings(**values)


def create_resources(settings: Settings) -> None:
    import boto3

    create_buckets(
        boto3.client("s3", region_name=REGION), settings.data_bucket, settings.artifact_bucket
    )
    create_tables(boto3.client("dynamodb", region_name=REGION), settings)
    if settings.capture_stream:
        create_capture_stream(boto3.client("firehose", region_name=REGION), settings)
    if settings.export_signing_key:
        create_export_signing_key(
            boto3.client("kms", region_name=REGION), settings.export_signing_key
        )


@contextmanager
def environment(values: dict[str, str], *, unset: tuple[str, ...] = ()) -> Iterator[None]:
    """Set (and unset) environment variables for the block; put everything back after it."""
    saved = {k: os.environ.get(k) for k in (*values, *unset)}
    for key in unset:
        os.environ.pop(key, None)
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
    from mlops_template.functions import runtime
    from mlops_template.functions.inference import handler

    runtime.reset()
    handler.reset()


@contextmanager
def moto_patches() -> Iterator[None]:
    """Where moto falls short of AWS for what we test, and how we bridge it. This uses moto's
    private API: moto is pinned in pyproject.toml and its patches live here only.

    - DynamoDB serialises conflicting writes; moto's in-process backend is not thread-safe
      (TransactWriteItems deep-copies tables while other threads write), so requests to it are
      serialised with a lock. Threads still race to send their conditional writes.
    - moto's Firehose writes every batch to one object under the stream's prefix taken
      literally (plus YYYY/MM/DD/HH/); it has no dynamic partitioning. For a stream that enables
      it, the batch is split by the keys its MetadataExtraction jq query reads from each record
      (evaluated by jq itself) and each part written under the prefix those keys fill, as
      Firehose does. Buffering, SSE and the error output prefix are not emulated.
    - moto runs Lambda code in Docker. Every way a function gets invoked (Invoke, a Step
      Functions task, SNS or S3 notifications) ends in `LambdaFunction._invoke_lambda`; it is
      replaced by a call to our handler in this process, found from the function's handler
      setting (or its image command), exactly as the Lambda runtime would resolve it.
    """
    import threading
    from unittest import mock

    from moto.awslambda.models import LambdaFunction
    from moto.dynamodb.responses import DynamoHandler
    from moto.firehose.models import FirehoseBackend

    lock = threading.RLock()
    original = DynamoHandler.call_action

    def serialised(self: Any) -> Any:
        with lock:
            return original(self)

    from moto.sagemaker.models import SageMakerModelBackend

    create_processing = SageMakerModelBackend.create_processing_job
    create_training = SageMakerModelBackend.create_training_job

    def processing(self: Any, **kwargs: Any) -> Any:
        job = create_processing(self, **kwargs)
        run_processing_job(job)
        return job

    def training(self: Any, **kwargs: Any) -> Any:
        job = create_training(self, **kwargs)
        run_training_job(job)
        return job

    with (
        mock.patch.object(DynamoHandler, "call_action", serialised),
        mock.patch.object(LambdaFunction, "_invoke_lambda", _invoke_in_process),
        mock.patch.object(
            FirehoseBackend,
            "put_s3_records",
            _partitioned_s3_records(FirehoseBackend.put_s3_records),
        ),
        mock.patch.object(SageMakerModelBackend, "create_processing_job", processing),
        mock.patch.object(SageMakerModelBackend, "create_training_job", training),
    ):
        yield


def _fill_prefix(template: str, keys: dict[str, Any]) -> str:
    """A dynamic-partitioning prefix with its `!{partitionKeyFromQuery:<key>}` filled in."""
    import re

    def value(match: re.Match[str]) -> str:
        return str(keys[match[1]])

    return re.sub(r"!\{partitionKeyFromQuery:(\w+)\}", value, template)


def _partitioned_s3_records(original: Callable[..., Any]) -> Callable[..., Any]:
    from datetime import UTC, datetime

    def put_s3_records(
        self: Any, name: str, version_id: str, destination: dict[str, Any], records: list[Any]
    ) -> list[dict[str, str]]:
        if not (destination.get("DynamicPartitioningConfiguration") or {}).get("Enabled"):
            delivered: list[dict[str, str]] = original(self, name, version_id, destination, records)
            return delivered
        import jq
        from moto.s3.models import s3_backends

        query = next(
            parameter["ParameterValue"]
            for processor in destination["ProcessingConfiguration"]["Processors"]
            if processor["Type"] == "MetadataExtraction"
            for parameter in processor["Parameters"]
            if parameter["ParameterName"] == "MetadataExtractionQuery"
        )
        program = jq.compile(query)
        parts: dict[str, list[bytes]] = {}
        for record in records:
            data = record["Data"]
            keys: dict[str, Any] = program.input_value(json.loads(data)).first()
            parts.setdefault(_fill_prefix(destination["Prefix"], keys), []).append(data)
        bucket = destination["BucketARN"].split(":")[-1]
        now = datetime.now(UTC).strftime("%Y-%m-%d-%H-%M-%S")
        for prefix, data in parts.items():
            key = f"{prefix}{name}-{version_id}-{now}-{uuid.uuid4()}"
            s3_backends[self.account_id][self.partition].put_object(bucket, key, b"".join(data))
        return [{"RecordId": str(uuid.uuid4())} for _ in records]

    return put_s3_records


# -- SageMaker jobs: moto records them and reports Completed without running a container -------


def _split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _download_prefix(s3: Any, uri: str, folder: Any) -> None:
    """What SageMaker does for an S3Prefix input: every object under the prefix, by name."""
    bucket, prefix = _split_s3(uri)
    folder.mkdir(parents=True, exist_ok=True)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            name = item["Key"].rsplit("/", 1)[-1]
            s3.download_file(bucket, item["Key"], str(folder / name))


def _entry_module(entrypoint: list[str]) -> str:
    return entrypoint[entrypoint.index("-m") + 1]


def run_processing_job(job: Any) -> None:
    """The job's container, run in this process: inputs downloaded where the container would
    find them, the entry point called, the outputs uploaded. A crash fails the job, with the
    FailureReason SageMaker gives (AlgorithmError: ...)."""
    import importlib
    import tempfile
    from pathlib import Path, PurePosixPath

    import boto3

    s3 = boto3.client("s3", region_name=REGION)
    root = PurePosixPath("/opt/ml/processing")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        try:
            for item in job.processing_inputs:
                s3_input = item["S3Input"]
                local = base / PurePosixPath(s3_input["LocalPath"]).relative_to(root)
                _download_prefix(s3, s3_input["S3Uri"], local)
            module = _entry_module(job.app_specification["ContainerEntrypoint"])
            importlib.import_module(module).run(base)
            for output in job.processing_output_config["Outputs"]:
                s3_output = output["S3Output"]
                local = base / PurePosixPath(s3_output["LocalPath"]).relative_to(root)
                bucket, prefix = _split_s3(s3_output["S3Uri"])
                for path in sorted(p for p in local.rglob("*") if p.is_file()):
                    key = f"{prefix.rstrip('/')}/{path.relative_to(local).as_posix()}"
                    s3.upload_file(str(path), bucket, key)
        except Exception as exc:
            job.processing_job_status = "Failed"
            job.failure_reason = f"AlgorithmError: {type(exc).__name__}: {exc}"[:1024]


def run_training_job(job: Any) -> None:
    """The training container, run in this process: channels in, model dir out, packed as the
    model.tar.gz moto's description names. A crash fails the job with its reason."""
    import importlib
    import io
    import tarfile
    import tempfile
    from pathlib import Path

    import boto3

    s3 = boto3.client("s3", region_name=REGION)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        environ = {
            "SM_MODEL_DIR": str(base / "model"),
            "SM_OUTPUT_DIR": str(base / "output"),
            "SM_HPS": json.dumps(job.hyper_parameters or {}),
        }
        try:
            for channel in job.input_data_config:
                folder = base / "data" / channel["ChannelName"]
                _download_prefix(s3, channel["DataSource"]["S3DataSource"]["S3Uri"], folder)
                environ[f"SM_CHANNEL_{channel['ChannelName'].upper()}"] = str(folder)
            module = _entry_module(job.algorithm_specification["ContainerEntrypoint"])
            model_dir = importlib.import_module(module).run([], environ)
            archive = io.BytesIO()
            with tarfile.open(fileobj=archive, mode="w:gz") as tar:
                for path in sorted(Path(model_dir).iterdir()):
                    tar.add(path, arcname=path.name)
            bucket, key = _split_s3(job.model_artifacts["S3ModelArtifacts"])
            s3.put_object(Bucket=bucket, Key=key, Body=archive.getvalue())
        except Exception as exc:
            job.training_job_status = "Failed"
            job.failure_reason = f"AlgorithmError: {type(exc).__name__}: {exc}"[:1024]


def resolve_handler(path: str) -> Callable[[dict[str, Any], Any], Any]:
    """`<package>.functions.validate.handler` -> the callable, as the Lambda runtime finds it."""
    import importlib

    module, _, attribute = path.rpartition(".")
    handler: Callable[[dict[str, Any], Any], Any] = getattr(
        importlib.import_module(module), attribute
    )
    return handler


def _invoke_in_process(function: Any, event: str | None = None) -> tuple[str, bool, str]:
    image = getattr(function, "image_config", None)
    command = list(getattr(image, "cmd", None) or [])
    handler = resolve_handler(command[0] if command else function.handler)
    payload = json.loads(event) if isinstance(event, str | bytes) else (event or {})
    context = LambdaContext(function_name=function.function_name)
    try:
        result = handler(payload, context)
    except Exception as exc:
        # The shape Lambda returns for an unhandled error: Retry/Catch match on errorType.
        error = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
        return json.dumps(error), True, f"{type(exc).__name__}: {exc}"
    return json.dumps(result), False, ""


FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


class EmulatorUnavailable(RuntimeError):
    """moto is not installed (it comes with the dev extras, not with the package)."""


@contextmanager
def emulated_aws(prefix: str = "mlops-demo", **overrides: Any) -> Iterator[Settings]:
    """moto for the whole block: fake credentials, resources created, handlers pointed at them."""
    try:
        from moto import mock_aws
    except ImportError as exc:
        raise EmulatorUnavailable(
            "the AWS emulator needs moto, from the dev extras: pip install '.[dev]'"
        ) from exc
    settings = emulated_settings(prefix, **overrides)
    with (
        environment({**FAKE_CREDENTIALS, **settings_env(settings)}, unset=("AWS_ENDPOINT_URL",)),
        moto_patches(),
        mock_aws(config={"stepfunctions": {"execute_state_machine": True}}),
    ):
        use_settings(settings)
        create_resources(settings)
        try:
            yield settings
        finally:
            from mlops_template.functions import runtime

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
    from mlops_template.functions import evaluate, register, train, validate

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


# -- the pipeline: the real ASL definition on moto's Step Functions interpreter --------------

# Function name suffix -> handler, as terraform/modules/functions wires them.
PIPELINE_FUNCTIONS = {step.name: step.handler for step in pipeline_steps()}


def render_template(template: str, variables: dict[str, Any]) -> str:
    """Terraform's templatefile() for the ${name} interpolations the ASL uses."""
    import re

    missing = sorted(set(re.findall(r"\$\{(\w+)\}", template)) - set(variables))
    if missing:
        raise KeyError(f"template variables not given: {missing}")
    return re.sub(r"\$\{(\w+)\}", lambda m: str(variables[m.group(1)]), template)


def _deploy_state_machine(
    settings: Settings,
    name: str,
    handlers: dict[str, str],
    template: str,
    variables: dict[str, Any],
) -> str:
    """In moto: one function per handler (run in-process by `moto_patches`), and a state
    machine from the ASL template with `<name>_function_arn` for each."""
    import io
    import zipfile

    import boto3

    iam = boto3.client("iam", region_name=REGION)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
            }
        ],
    }
    role = iam.create_role(RoleName=f"{name}-emulated", AssumeRolePolicyDocument=json.dumps(trust))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("README", "handlers run in-process, see tooling/emulation.py: moto_patches")
    lam = boto3.client("lambda", region_name=REGION)
    arns: dict[str, str] = {}
    for function, handler in handlers.items():
        created = lam.create_function(
            FunctionName=f"{name}-{function}",
            Runtime="python3.12",
            Role=role["Role"]["Arn"],
            Handler=handler,
            Code={"ZipFile": archive.getvalue()},
            Timeout=900,
            MemorySize=3008,
            Environment={"Variables": settings_env(settings)},
        )
        arns[f"{function}_function_arn"] = created["FunctionArn"]
    machine = boto3.client("stepfunctions", region_name=REGION).create_state_machine(
        name=name,
        definition=render_template(template, {**arns, **variables}),
        roleArn=role["Role"]["Arn"],
    )
    return str(machine["stateMachineArn"])


def deploy_pipeline(settings: Settings, *, poll_seconds: int = 1) -> str:
    """Create the pipeline's functions and the state machine from the ASL template, in moto."""
    name = settings.state_machine_arn.rsplit(":", 1)[-1]
    return _deploy_state_machine(
        settings,
        name,
        PIPELINE_FUNCTIONS,
        pipeline_definition(),
        {
            "registry_table": settings.registry_table,
            "training_poll_seconds": poll_seconds,
            # moto runs no .sync integration: the request-response form, and the definition's
            # Describe/Wait loop waits for the job (on AWS, Terraform renders ".sync").
            "sagemaker_sync": "",
            "sagemaker_role_arn": settings.sagemaker_role_arn
            or f"arn:aws:iam::{ACCOUNT}:role/{name}-sagemaker",
        },
    )


# Step -> handler, as terraform/modules/functions wires them (functions `batch_<step>`).
BATCH_FUNCTIONS = {
    "split": "mlops_template.functions.batch.split_handler",
    "score": "mlops_template.functions.batch.score_handler",
    "summarize": "mlops_template.functions.batch.summarize_handler",
}


def deploy_batch(settings: Settings, *, max_concurrency: int = 4) -> str:
    """The batch-scoring state machine (core/batch.asl.json) and its functions, in moto."""
    from importlib.resources import files

    return _deploy_state_machine(
        settings,
        settings.batch_state_machine_arn.rsplit(":", 1)[-1],
        BATCH_FUNCTIONS,
        (files("mlops_template.core") / "batch.asl.json").read_text(),
        {
            "data_bucket": settings.data_bucket,
            "max_concurrency": max_concurrency,
            "tolerated_failure_percentage": "0.0",
        },
    )


def run_execution(
    state_machine_arn: str,
    name: str,
    payload: dict[str, Any],
    *,
    timeout_seconds: float = 120,
) -> dict[str, Any]:
    """Start an execution and wait for it: its description plus the states it passed through."""
    import boto3

    sfn = boto3.client("stepfunctions", region_name=REGION)
    arn = sfn.start_execution(
        stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload)
    )["executionArn"]
    deadline = time.monotonic() + timeout_seconds
    while True:
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"execution {name} still running after {timeout_seconds}s")
        time.sleep(0.05)
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return {"execution": described, "events": events}


class AslPipeline:
    """Runs the pipeline as Step Functions does: the rendered ASL on moto's interpreter, each task
    a Lambda handler. Returns the same PipelineResult as the local runner, plus the states."""

    def __init__(self, settings: Settings, backend: Any, *, poll_seconds: int = 1) -> None:
        import logging

        # moto logs each failed state as an exception: the failure is in the result instead.
        logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
        self.backend = backend
        self.state_machine_arn = deploy_pipeline(settings, poll_seconds=poll_seconds)
        self._runs = 0

    def run(self, model: str, key: str, *, run_id: str | None = None, **_: Any) -> Any:
        from mlops_template.core.pipeline import PipelineResult, StepRecord
        from mlops_template.training.gate import GateResult

        self._runs += 1
        run_id = run_id or f"{model}-{time.strftime('%Y%m%dT%H%M%S')}-{self._runs}"
        outcome = run_execution(
            self.state_machine_arn, run_id, {"model": model, "key": key, "run_id": run_id}
        )
        execution, events = outcome["execution"], outcome["events"]
        result = PipelineResult(run_id=run_id, status="failed", steps=[])
        entered: dict[str, Any] = {}
        failed: set[str] = set()
        step_names = {step.state: step.name for step in pipeline_steps()}
        current = ""
        for event in events:
            kind = event["type"]
            if kind.endswith("StateEntered"):
                current = event["stateEnteredEventDetails"]["name"]
                result.transitions.append(current)
                entered[current] = event["timestamp"]
            elif kind in ("LambdaFunctionFailed", "TaskFailed"):
                failed.add(current)
            elif kind == "TaskStateExited":
                name = event["stateExitedEventDetails"]["name"]
                if name in step_names:
                    result.steps.append(
                        StepRecord(
                            name=step_names[name],
                            status="failed" if name in failed else "succeeded",
                            seconds=round((event["timestamp"] - entered[name]).total_seconds(), 3),
                        )
                    )
        output = json.loads(execution.get("output") or "{}")
        if "evaluation" in output:
            result.gate = GateResult.model_validate(output["evaluation"]["gate"])
        if "validation" in output:
            result.validation_warnings = output["validation"]["warnings"]
        if execution["status"] == "SUCCEEDED" and "registered" in output:
            result.status = "registered"
            result.version = int(output["registered"]["version"])
        elif execution["status"] == "SUCCEEDED":
            result.status = "rejected"
        else:
            result.error_type = execution.get("error")
            cause = execution.get("cause") or ""
            try:
                result.error = json.loads(cause)["errorMessage"]
            except (ValueError, KeyError, TypeError):
                result.error = cause
        return result


# -- CloudWatch alarms: moto stores them but never evaluates them ----------------------------

_COMPARE = {
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "GreaterThanThreshold": lambda v, t: v > t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}


def evaluate_alarm(name: str, *, now: Any = None) -> str:
    """Evaluate a metric alarm from its datapoints as CloudWatch would, set its state, and on a
    move to ALARM send the notification CloudWatch sends to each SNS alarm action."""
    from datetime import UTC, datetime, timedelta

    import boto3

    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    (alarm,) = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    now = now or datetime.now(UTC)
    period, periods = alarm["Period"], alarm["EvaluationPeriods"]
    stat = alarm["Statistic"]
    points = cloudwatch.get_metric_statistics(
        Namespace=alarm["Namespace"],
        MetricName=alarm["MetricName"],
        Dimensions=alarm.get("Dimensions", []),
        Statistics=[stat],
        Period=period,
        StartTime=now - timedelta(seconds=period * periods),
        EndTime=now + timedelta(seconds=1),
    )["Datapoints"]
    values = [p[stat] for p in points]
    compare = _COMPARE[alarm["ComparisonOperator"]]
    breaching = sum(compare(v, alarm["Threshold"]) for v in values)
    needed = alarm.get("DatapointsToAlarm", periods)
    if not values:
        state = "OK" if alarm.get("TreatMissingData") == "notBreaching" else "INSUFFICIENT_DATA"
    else:
        state = "ALARM" if breaching >= needed else "OK"
    previous = alarm["StateValue"]
    reason = f"{breaching} of {len(values)} datapoints {values} breach {alarm['Threshold']}"
    cloudwatch.set_alarm_state(
        AlarmName=name,
        StateValue=state,  # type: ignore[arg-type]
        StateReason=reason,
    )
    if state == "ALARM" and previous != "ALARM":
        message = {
            "AlarmName": name,
            "AlarmDescription": alarm.get("AlarmDescription", ""),
            "AWSAccountId": ACCOUNT,
            "NewStateValue": state,
            "OldStateValue": previous,
            "NewStateReason": reason,
            "StateChangeTime": now.isoformat(),
            "Region": REGION,
            "AlarmArn": alarm["AlarmArn"],
            "Trigger": {
                "MetricName": alarm["MetricName"],
                "Namespace": alarm["Namespace"],
                "Statistic": stat.upper(),
                "Period": period,
                "EvaluationPeriods": periods,
                "ComparisonOperator": alarm["ComparisonOperator"],
                "Threshold": alarm["Threshold"],
                "Dimensions": [
                    {"name": d["Name"], "value": d["Value"]} for d in alarm.get("Dimensions", [])
                ],
            },
        }
        sns = boto3.client("sns", region_name=REGION)
        for action in alarm.get("AlarmActions", []):
            if ":sns:" in action:
                sns.publish(
                    TopicArn=action, Subject=f'ALARM: "{name}"', Message=json.dumps(message)
                )
    return state


# -- releases across emulated environments -------------------------------------------------

ENVIRONMENTS = ("dev", "staging", "prod")


class EmulatedEnvironment:
    """One environment's resources in the shared moto account, and its API as Lambda runs it."""

    def __init__(self, name: str, settings: Settings) -> None:
        from mlops_template.infra import build_backend

        self.name = name
        self.settings = settings
        self.backend = build_backend(settings)

    def api(self) -> LambdaApiClient:
        """The inference function of this environment (handlers read its settings)."""
        from mlops_template.functions.inference.handler import handler

        use_settings(self.settings)
        return LambdaApiClient(handler)


def emulated_release(workdir: Any) -> dict[str, Any]:
    """dev -> staging -> prod for a good version, then a broken release that the prod smoke test
    catches and rolls back. Returns what happened, environment by environment."""
    from pathlib import Path

    from mlops_template.core.artifacts import arrival_key
    from mlops_template.core.pipeline import LocalPipeline, PipelineSteps
    from mlops_template.core.promotion import export_version, promote_and_verify, release
    from mlops_template.training.config import TrainingConfig
    from mlops_template.training.datasets import TARGET, breast_cancer_frame, to_csv_bytes

    model = "breast-cancer"
    workdir = Path(workdir)
    with emulated_aws("mlops-dev") as dev_settings:
        envs = {"dev": EmulatedEnvironment("dev", dev_settings)}
        for index, name in enumerate(ENVIRONMENTS[1:], start=1):
            # Each environment imports only what the environments before it signed.
            earlier = [export_signing_alias(f"mlops-{e}") for e in ENVIRONMENTS[:index]]
            settings = emulated_settings(
                f"mlops-{name}", environment=name, trusted_export_keys=",".join(earlier)
            )
            create_resources(settings)
            envs[name] = EmulatedEnvironment(name, settings)
        dev = envs["dev"]
        PipelineSteps(dev.backend).save_config(TrainingConfig(model_name=model, target=TARGET))
        key = arrival_key("day1.csv")
        dev.backend.data.put(key, to_csv_bytes(breast_cancer_frame()))
        trained = LocalPipeline(dev.backend, actor="dev-pipeline").run(model, key)
        if trained.version is None:
            raise RuntimeError(f"training in dev failed: {trained.error}")
        dev.backend.registry.promote(model, trained.version, "production", actor="dev-pipeline")
        steps: list[dict[str, Any]] = []
        version, source = trained.version, dev
        for target in (envs["staging"], envs["prod"]):
            result = release(
                source.backend,
                target.backend,
                model,
                version,
                "production",
                source_environment=source.name,
                client=target.api,
                actor="release",
                workdir=workdir / f"{source.name}-to-{target.name}",
            )
            steps.append({"from": source.name, "to": target.name, **result.model_dump(mode="json")})
            if not result.succeeded:
                raise RuntimeError(f"release to {target.name} failed: {result.smoke}")
            version, source = result.target_version, target

        # A broken build: its ONNX bytes do not load, though its recorded hashes match them.
        broken = _broken_version(dev.backend, model, trained.version)
        bundle = workdir / "broken"
        export_version(dev.backend, model, broken.version, bundle)
        from mlops_template.core.promotion import import_version

        prod = envs["prod"]
        imported = import_version(prod.backend, bundle, source_environment="dev", actor="release")
        failed = promote_and_verify(
            prod.backend,
            model,
            imported.version,
            "production",
            client=prod.api,
            actor="release",
            source_version=broken.version,
        )
        steps.append({"from": "dev", "to": "prod", **failed.model_dump(mode="json")})
        return {
            "steps": steps,
            "history": {
                name: [e.model_dump(mode="json") for e in env.backend.registry.history(model)]
                for name, env in envs.items()
            },
            "production": {
                name: (
                    current.version
                    if (current := env.backend.registry.current(model, "production"))
                    else None
                )
                for name, env in envs.items()
            },
        }


def _broken_version(backend: Any, model: str, good: int) -> Any:
    """Register a copy of `good` whose model file is not a loadable ONNX graph (what a faulty
    exporter would produce); its record carries the hash of those bytes, so only serving it
    can reveal the fault."""
    import hashlib

    from mlops_template.core.artifacts import version_key
    from mlops_template.core.records import ArtifactRef
    from mlops_template.training.files import MODEL_FILE

    record = backend.registry.get(model, good)
    version = backend.registry.allocate_version(model)
    artifacts = {}
    for name, ref in record.artifacts.items():
        data = b"not an onnx graph" if name == MODEL_FILE else backend.artifacts.get(ref.key)
        key = version_key(model, version, name)
        backend.artifacts.put(key, data)
        artifacts[name] = ArtifactRef(
            key=key,
            uri=backend.artifacts.uri(key),
            sha256=hashlib.sha256(data).hexdigest(),
            size_bytes=len(data),
        )
    return backend.registry.register(
        record.model_copy(
            update={"version": version, "artifacts": artifacts, "run_id": f"{record.run_id}-broken"}
        )
    )
