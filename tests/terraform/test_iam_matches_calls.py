"""Each function's role grants exactly the AWS actions its code calls.

The whole lifecycle runs on moto (pipeline through the ASL, ingest, inference, monitor, retrain,
rollback, SageMaker training); every boto3 call is recorded against the function making it, turned
into the IAM action it needs, and compared with that function's statements in Terraform."""

from __future__ import annotations

import contextvars
import json
from collections import defaultdict
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient

import mlops_template.tooling.emulation as emulation
from mlops_template.core.abtest import DECIDED_ALARM_SUFFIX, start_abtest
from mlops_template.core.pipeline import PipelineSteps
from mlops_template.functions import ingest, monitor, retrain, rollback, runtime, stream
from mlops_template.infra import build_backend
from mlops_template.tooling.emulation import AslPipeline, LambdaApiClient, LambdaContext
from mlops_template.training.config import TrainingConfig
from mlops_template.training.datasets import TARGET
from tests.aws.sqs_lambda import drain
from tests.conftest import capture_outcomes

from .conftest import handler_of

MODEL = "breast-cancer"
EVENTS = __import__("pathlib").Path(__file__).resolve().parents[1] / "events"
CURRENT = contextvars.ContextVar("function", default="")

# API operations whose IAM action is not simply service:Operation.
SPECIAL = {
    ("s3", "HeadObject"): {"s3:GetObject"},
    ("s3", "ListObjectsV2"): {"s3:ListBucket"},
    ("s3", "CopyObject"): {"s3:GetObject", "s3:PutObject"},
    # A batch call is authorised as the single call it repeats.
    ("sqs", "DeleteMessageBatch"): {"sqs:DeleteMessage"},
    ("sqs", "SendMessageBatch"): {"sqs:SendMessage"},
}


def iam_actions(service: str, operation: str, params: dict[str, Any]) -> set[str]:
    # Naming one version of an object is an action of its own.
    if service == "s3" and operation == "DeleteObject" and params.get("VersionId"):
        return {"s3:DeleteObjectVersion"}
    if service == "s3" and operation == "CopyObject" and params["CopySource"].get("VersionId"):
        return {"s3:GetObjectVersion", "s3:PutObject"}
    if (service, operation) in SPECIAL:
        return SPECIAL[(service, operation)]
    if service == "dynamodb" and operation == "TransactWriteItems":
        kinds = {next(iter(item)) for item in params["TransactItems"]}
        return {
            f"dynamodb:{'ConditionCheckItem' if k == 'ConditionCheck' else k + 'Item'}"
            for k in kinds
        }
    if service == "sagemaker" and operation == "CreateTrainingJob":
        # IAM checks PassRole on RoleArn, and AddTags when the job carries tags.
        return {"sagemaker:CreateTrainingJob", "iam:PassRole"} | (
            {"sagemaker:AddTags"} if params.get("Tags") else set()
        )
    return {f"{service}:{operation}"}


@pytest.fixture
def recorded(monkeypatch):
    calls: dict[str, set[str]] = defaultdict(set)
    original = BaseClient._make_api_call

    def record(self, operation, params):
        function = CURRENT.get()
        if function:
            service = self.meta.service_model.endpoint_prefix
            service = {
                "states": "states",
                "monitoring": "cloudwatch",
                "api.sagemaker": "sagemaker",
            }.get(service, service)
            calls[function] |= iam_actions(service, operation, params)
        return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", record)
    resolve = emulation.resolve_handler

    def as_function(path: str):
        handler = resolve(path)
        name = HANDLER_TO_FUNCTION[path]

        def run(event, context):
            token = CURRENT.set(name)
            try:
                return handler(event, context)
            finally:
                CURRENT.reset(token)

        return run

    monkeypatch.setattr(emulation, "resolve_handler", as_function)
    return calls


def _out_of_memory(*args: Any, **kwargs: Any) -> Any:
    raise MemoryError("Runtime exited with error: signal: killed")


HANDLER_TO_FUNCTION: dict[str, str] = {}
# Granted without a call of their own in this scenario, and why.
ONLY_ON_FAILURE = {
    # Powertools deletes its in-progress record when the handler raises, so a retry can run;
    # it reads a record with GetItem when the conditional put does not return the old one.
    # Both are in Powertools' documented idempotency permissions.
    "retrain": {"dynamodb:DeleteItem", "dynamodb:GetItem"},
}


def justified(function: str, called: set[str]) -> set[str]:
    allowed = set(ONLY_ON_FAILURE.get(function, set()))
    if "s3:GetObject" in called:
        # With ListBucket a missing key answers 404 (BlobNotFound), without it 403.
        allowed.add("s3:ListBucket")
    return allowed


LITERAL_ENV: dict[str, dict[str, str]] = {}


def as_function_env(monkeypatch, name: str) -> None:
    """The settings Terraform gives this function (its literal values), as its handler reads."""
    from mlops_template.functions.inference import handler as inference_module

    for key, value in LITERAL_ENV[name].items():
        monkeypatch.setenv(key, value)
    runtime.reset()
    inference_module.reset()
    stream.reset()


def call_as(monkeypatch, name: str, handler, event: dict[str, Any]) -> Any:
    as_function_env(monkeypatch, name)
    token = CURRENT.set(name)
    try:
        return handler(event, LambdaContext(function_name=name))
    finally:
        CURRENT.reset(token)


def granted(functions_locals) -> dict[str, set[str]]:
    actions: dict[str, set[str]] = {}
    for name, spec in functions_locals["functions"].items():
        HANDLER_TO_FUNCTION[handler_of(name, spec, functions_locals)] = name
        LITERAL_ENV[name] = {k: str(v) for k, v in spec["env"].items() if "${" not in str(v)}
        actions[name] = {
            a
            for s in spec["statements"]
            for a in ([s["actions"]] if isinstance(s["actions"], str) else s["actions"])
        }
    return actions


def test_roles_grant_what_the_code_calls_and_nothing_more(
    aws, recorded, functions_locals, csv_bytes, typed_frame, schema, monkeypatch, tmp_path
):
    grants = granted(functions_locals)
    monkeypatch.setenv("MLOPS_AUTO_PROMOTE_STAGE", "staging")
    runtime.reset()
    backend = build_backend(aws)
    PipelineSteps(backend).save_config(TrainingConfig(model_name=MODEL, target=TARGET))
    pipeline = AslPipeline(aws, backend)

    # Pipeline: a good file, then a bad one (quarantine), through the real definition.
    backend.data.put("incoming/day1.csv", csv_bytes)
    first = pipeline.run(MODEL, "incoming/day1.csv", run_id="run-1")
    assert first.status == "registered", first.error
    backend.data.put("incoming/bad.csv", csv_bytes.replace(b"benign", b"x", 5))
    assert pipeline.run(MODEL, "incoming/bad.csv", run_id="run-bad").status == "failed"
    # A big file: the route claims it for a Processing job, whose report is collected, and the
    # Training job's output (both jobs run by the state machine itself).
    monkeypatch.setenv("MLOPS_PIPELINE_MEMORY_MB", "128")
    monkeypatch.setenv("MLOPS_SAGEMAKER_ROLE_ARN", "arn:aws:iam::123456789012:role/t")
    monkeypatch.setenv(
        "MLOPS_TRAINING_IMAGE_URI", "123456789012.dkr.ecr.us-east-1.amazonaws.com/t:1"
    )
    runtime.reset()
    backend.data.put("incoming/big.csv", csv_bytes)
    big = pipeline.run(MODEL, "incoming/big.csv", run_id="run-big")
    assert big.status == "registered", big.error
    monkeypatch.setenv("MLOPS_PIPELINE_MEMORY_MB", "3008")
    runtime.reset()
    # A route that dies leaves the file in incoming/: the quarantine step claims it from there.
    with monkeypatch.context() as dying:
        dying.setattr(PipelineSteps, "route", _out_of_memory)
        backend.data.put("incoming/huge.csv", csv_bytes)
        assert pipeline.run(MODEL, "incoming/huge.csv", run_id="run-oom").status == "failed"
    assert any(k.endswith("huge.csv") for k in backend.data.keys(f"quarantine/{MODEL}/"))
    # A validate step that dies after its claim: the quarantine step moves the claimed copy.
    with monkeypatch.context() as dying:
        dying.setattr("mlops_template.core.pipeline.validate_data", _out_of_memory)
        backend.data.put("incoming/huge2.csv", csv_bytes)
        assert pipeline.run(MODEL, "incoming/huge2.csv", run_id="run-oom2").status == "failed"
    assert backend.data.keys(f"claimed/{MODEL}/") == []
    backend.registry.promote(MODEL, 1, "production", actor="test")

    # Batch scoring: the batch definition on moto, a chunk per function (two chunks, one bad row).
    batch_input = csv_bytes.replace(b"benign", b"benign", 1)
    boto3.client("s3").put_object(
        Bucket=aws.data_bucket, Key="batch-input/nightly.csv", Body=batch_input
    )
    job = {
        "model": MODEL,
        "input_key": "batch-input/nightly.csv",
        "run_id": "batch-1",
        "rows_per_chunk": 300,
    }
    scored = emulation.run_execution(emulation.deploy_batch(aws), "batch-1", {"job": job})
    assert scored["execution"]["status"] == "SUCCEEDED", scored["execution"].get("cause")

    # New data arrives.
    call_as(
        monkeypatch,
        "ingest",
        ingest.handler,
        json.loads(
            (EVENTS / "s3_put_incoming.json")
            .read_text()
            .replace("REPLACED_BY_TEST", aws.data_bucket)
        ),
    )

    # Serving: predictions (captured), feedback, model info.
    from mlops_template.functions.inference.handler import handler as inference

    def serve(event, context):
        token = CURRENT.set("inference")
        try:
            return inference(event, context)
        finally:
            CURRENT.reset(token)

    as_function_env(monkeypatch, "inference")
    api = LambdaApiClient(serve)
    records = typed_frame[schema.feature_names].head(40).to_dict(orient="records")
    answer = api.post("/predict", json={"records": records}).json()
    pid = answer["predictions"][0]["prediction_id"]
    assert api.post("/feedback", json={"prediction_id": pid, "label": "benign"}).status_code == 202
    assert api.get("/model").status_code == 200

    # Streaming scoring: the SQS poller (the event source mapping, which uses the function's
    # role) hands it a batch with a poison message, deletes what was scored, and the poison
    # goes to the DLQ after maxReceiveCount receives.
    sqs = boto3.client("sqs")
    dlq = sqs.create_queue(QueueName=f"{aws.data_bucket}-stream-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn["QueueArn"], "maxReceiveCount": "2"})
    source = sqs.create_queue(
        QueueName=f"{aws.data_bucket}-stream-input", Attributes={"RedrivePolicy": redrive}
    )["QueueUrl"]
    output = sqs.create_queue(QueueName=f"{aws.data_bucket}-stream-output")["QueueUrl"]
    monkeypatch.setenv("MLOPS_STREAM_OUTPUT_QUEUE_URL", output)
    as_function_env(monkeypatch, "stream")
    for body in (json.dumps({"records": records[:5]}), json.dumps(records[5]), "not json"):
        sqs.send_message(QueueUrl=source, MessageBody=body)
    token = CURRENT.set("stream")
    try:
        drain(sqs, source, stream.handler, LambdaContext(function_name="stream"))
    finally:
        CURRENT.reset(token)
    assert (
        int(
            sqs.get_queue_attributes(QueueUrl=output, AttributeNames=["All"])["Attributes"][
                "ApproximateNumberOfMessages"
            ]
        )
        == 2
    )

    # Monitoring and the reactions to alarms.
    call_as(
        monkeypatch,
        "monitor",
        monitor.handler,
        json.loads((EVENTS / "eventbridge_schedule.json").read_text()),
    )
    alarm = json.loads((EVENTS / "sns_cloudwatch_alarm.json").read_text())
    call_as(monkeypatch, "retrain", retrain.handler, alarm)
    call_as(monkeypatch, "retrain", retrain.handler, alarm)  # a duplicate: the stored result
    backend.data.put("incoming/day2.csv", csv_bytes)
    assert pipeline.run(MODEL, "incoming/day2.csv", run_id="run-2").status == "registered"
    backend.registry.promote(MODEL, 2, "production", actor="release")
    result = call_as(
        monkeypatch,
        "rollback",
        rollback.handler,
        json.loads((EVENTS / "eventbridge_alarm_state_change.json").read_text()),
    )
    assert result["reactions"][0]["action"] == "rollback"

    # An A/B test that reached its decision: its alarm makes the rollback function apply it.
    backend.registry.promote(MODEL, 2, "canary", actor="release", weight=0.5)
    start_abtest(backend, MODEL, mde=0.1, look_every=100, baseline=0.8, power=0.8)
    capture_outcomes(backend, 1, "production", 160, 40, "c", model=MODEL)
    capture_outcomes(backend, 2, "canary", 190, 10, "e", model=MODEL)
    decided = json.loads((EVENTS / "sns_cloudwatch_alarm.json").read_text())
    message = json.loads(decided["Records"][0]["Sns"]["Message"])
    decided["Records"][0]["Sns"]["Message"] = json.dumps(
        {**message, "AlarmName": f"mlops-dev{DECIDED_ALARM_SUFFIX}"}
    )
    applied = call_as(monkeypatch, "rollback", rollback.handler, decided)
    assert applied["reactions"][0]["action"] == "abtest promote", applied

    assert set(recorded) == set(grants), "every function ran"
    missing = {f: recorded[f] - grants[f] for f in grants if recorded[f] - grants[f]}
    unused = {f: grants[f] - recorded[f] - justified(f, recorded[f]) for f in grants}
    unused = {f: actions for f, actions in unused.items() if actions}
    assert not missing, f"roles lack actions their code calls: {missing}"
    assert not unused, f"roles grant actions no code path called: {unused}"
