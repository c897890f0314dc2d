"""Streaming scoring on moto: SQS events in, results on the output queue, poison messages
reported as batch item failures and, through a real redrive policy, parked in the DLQ."""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from collections import Counter

import boto3
import pytest

from mlops_template.functions import runtime, stream
from mlops_template.functions.inference import handler as inference
from mlops_template.training.files import MODEL_FILE

from .conftest import MODEL, load_event
from .sqs_lambda import REGION, drain, receive_all
from .test_inference_handler import v2

MAX_RECEIVE_COUNT = 3
POISON = 3


@pytest.fixture
def queues(aws, monkeypatch):
    """Input queue (redrive to a DLQ after MAX_RECEIVE_COUNT receives) and output queue,
    with the stream function pointed at the output."""
    sqs = boto3.client("sqs", region_name=REGION)
    name = uuid.uuid4().hex[:12]
    dlq = sqs.create_queue(QueueName=f"{name}-stream-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}
    source = sqs.create_queue(
        QueueName=f"{name}-stream-input",
        Attributes={"RedrivePolicy": json.dumps(redrive), "VisibilityTimeout": "180"},
    )["QueueUrl"]
    output = sqs.create_queue(QueueName=f"{name}-stream-output")["QueueUrl"]
    monkeypatch.setenv("MLOPS_STREAM_OUTPUT_QUEUE_URL", output)
    runtime.reset()
    stream.reset()
    yield sqs, source, output, dlq
    stream.reset()


@pytest.fixture
def records(typed_frame, schema):
    return typed_frame[schema.feature_names].head(97).to_dict(orient="records")


def poison_bodies(records) -> list[str]:
    wrong_type = {**records[0], "worst_area": "big"}
    unknown_field = {**records[1], "colour": "red"}
    return ["not json {", json.dumps(wrong_type), json.dumps({"records": [unknown_field]})]


def bodies_with_poison(records) -> tuple[list[str], set[int]]:
    """97 good messages (single records and small batches of one) with 3 poison ones among
    them; the poison positions."""
    good = [json.dumps(r) if i % 2 else json.dumps({"records": [r]}) for i, r in enumerate(records)]
    at = {5, 50, 98}
    bodies, poison = [], iter(poison_bodies(records))
    for position in range(len(good) + POISON):
        bodies.append(next(poison) if position in at else good.pop(0))
    return bodies, at


def sqs_event(bodies: list[str]) -> dict:
    """The sample SQS event with one record per body."""
    sample = load_event("sqs_predict.json")
    template = sample["Records"][0]
    event = {"Records": []}
    for i, body in enumerate(bodies):
        record = copy.deepcopy(template)
        record["messageId"] = f"00000000-0000-0000-0000-{i:012d}"
        record["body"] = body
        record["md5OfBody"] = hashlib.md5(body.encode()).hexdigest()
        event["Records"].append(record)
    return event


def test_poison_messages_fail_alone_and_the_rest_is_scored(production_v1, queues, records, context):
    sqs, _, output, _ = queues
    bodies, poison_at = bodies_with_poison(records)
    event = sqs_event(bodies)

    answer = stream.handler(event, context)

    failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
    assert failed == {event["Records"][i]["messageId"] for i in poison_at}
    results = [json.loads(m["Body"]) for m in receive_all(sqs, output)]
    assert len(results) == len(bodies) - POISON == 97
    scored = {r["request_id"] for r in results}
    assert scored == {r["messageId"] for r in event["Records"]} - failed
    for result in results:
        assert (result["model"], result["version"], result["stage"]) == (MODEL, 1, "production")
        [prediction] = result["predictions"]
        assert prediction["prediction_id"] == f"{result['request_id']}-0"
        assert prediction["label"] in ("benign", "malignant")
        assert 0.5 <= prediction["probability"] <= 1


def test_after_max_receive_count_the_poison_is_in_the_dlq_and_nothing_is_lost(
    production_v1, queues, records, context
):
    sqs, source, output, dlq = queues
    bodies, poison_at = bodies_with_poison(records)
    sent = {}
    for start in range(0, len(bodies), 10):
        entries = [
            {"Id": str(i), "MessageBody": body}
            for i, body in enumerate(bodies[start : start + 10], start)
        ]
        for ok in sqs.send_message_batch(QueueUrl=source, Entries=entries)["Successful"]:
            sent[ok["MessageId"]] = bodies[int(ok["Id"])]
    assert len(sent) == 100

    deliveries: Counter[str] = Counter()

    def function(event, context):
        deliveries.update(r["messageId"] for r in event["Records"])
        return stream.handler(event, context)

    drain(sqs, source, function, context)

    parked = receive_all(sqs, dlq)
    results = [json.loads(m["Body"]) for m in receive_all(sqs, output)]
    assert sorted(m["Body"] for m in parked) == sorted(bodies[i] for i in poison_at)
    assert {m["MessageId"] for m in parked} | {r["request_id"] for r in results} == set(sent)
    assert len(results) == 97 and len({r["request_id"] for r in results}) == 97
    attributes = sqs.get_queue_attributes(QueueUrl=source, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
    # Each good message was handed over once, each poison one maxReceiveCount times.
    assert {m["MessageId"]: deliveries[m["MessageId"]] for m in parked} == {
        m["MessageId"]: MAX_RECEIVE_COUNT for m in parked
    }
    assert sum(deliveries.values()) == 97 + POISON * MAX_RECEIVE_COUNT


def test_results_match_predict_for_the_same_records(production_v1, queues, records, context):
    sqs, _, output, _ = queues
    batch = records[:20]
    answer = stream.handler(
        sqs_event([json.dumps({"records": batch, "request_id": "r-1"})]), context
    )
    assert answer == {"batchItemFailures": []}
    [streamed] = [json.loads(m["Body"]) for m in receive_all(sqs, output)]
    response = inference.handler(v2(json.dumps({"records": batch})), context)
    assert response["statusCode"] == 200
    predicted = json.loads(response["body"])

    assert streamed["request_id"] == "r-1"
    assert [p["prediction_id"] for p in streamed["predictions"]] == [f"r-1-{i}" for i in range(20)]
    for key in ("model", "version", "stage"):
        assert streamed[key] == predicted[key]

    def without_ids(payload):
        return [
            {k: v for k, v in p.items() if k != "prediction_id"} for p in payload["predictions"]
        ]

    assert without_ids(streamed) == without_ids(predicted)


def test_a_single_record_keeps_its_prediction_id_and_is_captured_once(
    production_v1, aws_backend, queues, records, context
):
    sqs, _, output, _ = queues
    body = json.dumps({**records[0], "prediction_id": "order-42"})
    stream.handler(sqs_event([body]), context)
    stream.handler(sqs_event([body]), context)  # delivered twice: same id, same capture
    results = [json.loads(m["Body"]) for m in receive_all(sqs, output)]
    assert [r["predictions"][0]["prediction_id"] for r in results] == ["order-42", "order-42"]
    captured = [p for p in aws_backend.predictions.recent(MODEL) if p.prediction_id == "order-42"]
    assert len(captured) == 1
    assert captured[0].features == records[0]


def test_no_model_in_production_fails_every_message_for_a_retry(aws, queues, records, context):
    sqs, _, output, _ = queues
    event = sqs_event([json.dumps(r) for r in records[:3]])
    answer = stream.handler(event, context)
    assert len(answer["batchItemFailures"]) == 3
    assert receive_all(sqs, output) == []


def test_a_tampered_artifact_is_never_scored(production_v1, aws_backend, queues, records, context):
    aws_backend.artifacts.put(production_v1.artifacts[MODEL_FILE].key, b"tampered")
    sqs, _, output, _ = queues
    answer = stream.handler(sqs_event([json.dumps(records[0])]), context)
    assert len(answer["batchItemFailures"]) == 1
    assert receive_all(sqs, output) == []
