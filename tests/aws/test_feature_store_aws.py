"""The feature store on moto: the online store's conditional write and TTL in DynamoDB,
materialization from the offline history in S3, and /predict's entity form through the
inference Lambda handler."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime, timedelta

import boto3
import pyarrow.csv as pacsv

from mlops_template.core.features.definitions import load_repo
from mlops_template.core.features.ingest import ingest, materialize, read_source_file
from mlops_template.core.features.offline import (
    OfflineStore,
    build_training_set,
    entity_table_from_bytes,
    manifest_json,
)
from mlops_template.core.features.online import OnlineKey, OnlineRecord
from mlops_template.core.features.serving import manifest_key
from mlops_template.core.pipeline import LocalPipeline, PipelineSteps
from mlops_template.infra.aws.online_store import DynamoOnlineStore
from mlops_template.tooling import feature_demo
from mlops_template.training.config import TrainingConfig, ValidationThresholds

from .conftest import MODEL, load_event
from .test_inference_handler import call, v2

REGION = "us-east-1"
DAY_MS = 86_400_000


def test_an_older_record_is_refused_and_ttl_is_set(aws):
    db = boto3.client("dynamodb", region_name=REGION)
    store = DynamoOnlineStore(aws.feature_table, dynamodb=db)
    newer = OnlineRecord("c1", event_ms=2 * DAY_MS, created_ms=5, values={"spend": 2.5, "n": 3})
    older = OnlineRecord("c1", event_ms=1 * DAY_MS, created_ms=9, values={"spend": 1.0, "n": 1})
    same_time_later_created = OnlineRecord("c1", 2 * DAY_MS, 6, {"spend": 7.25, "n": 4})
    assert store.write("v", "abc", [newer], ttl_ms=DAY_MS) == 1
    assert store.write("v", "abc", [older], ttl_ms=DAY_MS) == 0  # refused by the condition
    assert store.write("v", "abc", [newer], ttl_ms=DAY_MS) == 0  # as new: refused too
    key = OnlineKey("v", "abc", "c1")
    assert store.read([key])[key].values == {"spend": 2.5, "n": 3}
    assert store.write("v", "abc", [same_time_later_created], ttl_ms=DAY_MS) == 1
    item = db.get_item(TableName=aws.feature_table, Key={"pk": {"S": key.pk}})["Item"]
    # Native attributes, readable by any tool; the TTL attribute is event time + the view's TTL.
    assert item["spend"] == {"N": "7.25"} and item["n"] == {"N": "4"}
    assert item["expires_at"] == {"N": str((2 * DAY_MS + DAY_MS) // 1000)}
    ttl = db.describe_time_to_live(TableName=aws.feature_table)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")
    many = [OnlineKey("v", "abc", f"x{i}") for i in range(150)] + [key]
    assert list(store.read(many)) == [key]  # two BatchGetItem calls, absent keys left out


def test_entity_records_are_answered_through_the_lambda_handler(aws, aws_backend, context):
    """Ingest into S3 + DynamoDB, a point-in-time training set, a model trained from it on
    moto, then /predict with entity ids through the handler; an older replay is refused."""
    repo = load_repo(feature_demo.__file__)
    view = repo.view("customer_stats")
    source, entities = feature_demo.demo_files(start=datetime.now(UTC) - timedelta(days=45))
    offline = OfflineStore(aws_backend.data)
    rows = read_source_file(source, "source.csv", text_columns=["customer_id"])
    result = ingest(view, rows, offline, aws_backend.online_features)
    assert result.online_written == len({r["customer_id"] for r in rows})
    assert materialize(view, offline, aws_backend.online_features) == 0  # nothing newer

    built = build_training_set(
        offline,
        entity_table_from_bytes(entities, "entities.csv", join_keys=["customer_id"]),
        [view],
        entity_sha256=hashlib.sha256(entities).hexdigest(),
    )
    sink = io.BytesIO()
    pacsv.write_csv(built.table, sink)
    data = sink.getvalue()
    aws_backend.artifacts.put(
        manifest_key(hashlib.sha256(data).hexdigest()), manifest_json(built.manifest)
    )
    PipelineSteps(aws_backend).save_config(
        TrainingConfig(
            model_name=MODEL, target="fraud", validation=ValidationThresholds(max_missing_ratio=0.6)
        )
    )
    aws_backend.data.put("incoming/features.csv", data)
    run = LocalPipeline(aws_backend).run(MODEL, "incoming/features.csv", auto_promote="production")
    assert run.status == "registered", run.error

    latest: dict[str, datetime] = {}
    for r in rows:
        latest[r["customer_id"]] = max(
            latest.get(r["customer_id"], r["event_time"]), r["event_time"]
        )
    cutoff = datetime.now(UTC) - timedelta(days=25)
    fresh = sorted(c for c, t in latest.items() if t > cutoff)[:3]
    body = json.dumps({"records": [{"customer_id": c, "amount": 50.0} for c in fresh]})
    status, answer = call(v2(body), context)
    assert status == 200, answer
    assert len(answer["predictions"]) == 3
    status, answer = call(
        v2(json.dumps({"records": [{"customer_id": "ghost", "amount": 1}]})), context
    )
    assert status == 422 and "'ghost'" in answer["detail"][0]["msg"]
    assert load_event  # the events are AWS's own shapes (tests/events)


def test_streamed_feature_rows_update_online_and_offline_once(
    aws, aws_backend, context, monkeypatch
):
    """A message naming a feature view, through the streaming function: the same transform
    as batch, the online store updated, the history appended; redelivered, nothing changes;
    an older update is kept in history but refused online."""
    from mlops_template.functions import runtime, stream

    monkeypatch.setenv("MLOPS_FEATURE_REPO", feature_demo.__file__)
    runtime.reset()
    stream.reset()
    view = load_repo(feature_demo.__file__).view("customer_stats")
    now = datetime.now(UTC)
    row = {"customer_id": "s1", "event_time": now.isoformat(), "total_spend": 90.0, "orders": 3}
    older = {**row, "event_time": (now - timedelta(days=2)).isoformat(), "total_spend": 5.0}
    event = load_event("sqs_predict.json")
    message = event["Records"][0]

    def send(body, message_id):
        event["Records"] = [{**message, "messageId": message_id, "body": json.dumps(body)}]
        return stream.handler(event, context)

    assert send({"feature_view": view.name, "records": [row]}, "m1") == {"batchItemFailures": []}
    assert send({"feature_view": view.name, "records": [row]}, "m1") == {"batchItemFailures": []}
    assert send({"feature_view": view.name, "records": [older]}, "m2") == {"batchItemFailures": []}
    key = OnlineKey(view.name, view.version, "s1")
    stored = aws_backend.online_features.read([key])[key]
    assert stored.values == {"avg_order": 30.0, "log_total_spend": 4.51086, "orders": 3}
    history = OfflineStore(aws_backend.data).history(view).to_pylist()
    assert sorted(r["avg_order"] for r in history) == [1.666667, 30.0]  # m1 once, m2 too
    bad = send({"feature_view": view.name, "records": [{"customer_id": "s2"}]}, "m3")
    assert bad == {"batchItemFailures": [{"itemIdentifier": "m3"}]}
