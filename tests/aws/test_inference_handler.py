"""The inference Lambda (FastAPI behind Mangum) with the events API Gateway sends."""

from __future__ import annotations

import base64
import json
import re

import pytest

from mlops_template.functions import runtime
from mlops_template.functions.inference import handler as inference
from mlops_template.training.files import MODEL_FILE
from tests.integration.test_api import strict_json

from .conftest import MODEL, load_event


@pytest.fixture
def body(typed_frame, schema):
    records = typed_frame[schema.feature_names].head(3).to_dict(orient="records")
    return json.dumps({"records": records})


def call(event, context):
    response = inference.handler(event, context)
    return response["statusCode"], json.loads(response["body"])


def v2(body: str, path: str = "/predict", method: str = "POST"):
    event = load_event("apigw_v2_predict.json")
    event["body"] = body
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["headers"]["content-length"] = str(len(body))
    return event


# Shaped like the samples AWS's own tooling generates (`sam local generate-event apigateway
# aws-proxy` and `http-api-proxy`): a base64 body and no content-type header.
SAMPLE_EVENTS = {
    "rest-v1": "apigw_v1_sample_no_content_type.json",
    "http-v2": "apigw_v2_sample_no_content_type.json",
}


def sample_event(kind: str, path: str, body: str):
    event = load_event(SAMPLE_EVENTS[kind])
    event["body"] = base64.b64encode(body.encode()).decode()
    if kind == "rest-v1":
        event["path"] = event["pathParameters"]["proxy"] = path
        event["requestContext"]["path"] = f"/prod{path}"
    else:
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
    assert not {k.lower() for k in event["headers"]} & {"content-type"}
    return event


def test_http_api_v2_event_gets_predictions(production_v1, body, context):
    status, answer = call(v2(body), context)
    assert status == 200
    assert (answer["model"], answer["version"], answer["stage"]) == (MODEL, 1, "production")
    assert len(answer["predictions"]) == 3


def test_rest_api_v1_event_under_a_base_path_gets_predictions(
    production_v1, body, context, monkeypatch
):
    monkeypatch.setenv("MLOPS_API_BASE_PATH", "/ml")
    runtime.reset()
    inference.reset()
    event = load_event("apigw_v1_predict.json")
    event["body"] = body
    status, answer = call(event, context)
    assert status == 200 and answer["version"] == 1


def test_invalid_record_gets_422_naming_the_field(production_v1, typed_frame, schema, context):
    record = typed_frame[schema.feature_names].head(1).to_dict(orient="records")[0]
    record["worst_area"] = "big"
    status, answer = call(v2(json.dumps({"records": [record]})), context)
    assert status == 422
    assert answer["detail"][0]["loc"] == ["body", "records", 0, "worst_area"]


def test_the_docs_page_and_its_assets_are_served_through_api_gateway(aws, context):
    page = inference.handler(v2("", path="/docs", method="GET"), context)
    assert page["statusCode"] == 200 and "://" not in page["body"]
    for asset in re.findall(r'(?:src|href)="([^"]+)"', page["body"]):
        response = inference.handler(v2("", path=asset, method="GET"), context)
        assert response["statusCode"] == 200, asset
        # Lambda refuses a response over 6 MB: the largest asset must fit.
        assert len(json.dumps(response)) < 6 * 1024 * 1024


def test_no_model_in_production_answers_503_with_a_reason(aws, context):
    status, answer = call(v2("", path="/health", method="GET"), context)
    assert status == 503 and "no version of breast-cancer is in production" in answer["reason"]


def test_a_tampered_artifact_is_refused_with_503(production_v1, aws_backend, body, context):
    aws_backend.artifacts.put(production_v1.artifacts[MODEL_FILE].key, b"tampered")
    status, answer = call(v2(body), context)
    assert status == 503 and "ArtifactIntegrityError" in answer["detail"]


def test_a_promotion_is_served_by_a_warm_container(
    production_v1, aws_backend, body, context, csv_bytes
):
    from mlops_template.core.pipeline import LocalPipeline

    assert call(v2(body), context)[1]["version"] == 1
    aws_backend.data.put("incoming/day2.csv", csv_bytes)
    second = LocalPipeline(aws_backend).run(MODEL, "incoming/day2.csv")
    aws_backend.registry.promote(MODEL, second.version, "production", actor="t")
    assert call(v2(body), context)[1]["version"] == second.version


def test_predictions_are_captured_and_feedback_lands_in_dynamodb(
    production_v1, aws_backend, body, context
):
    _, answer = call(v2(body), context)
    pid = answer["predictions"][0]["prediction_id"]
    feedback = json.dumps({"prediction_id": pid, "label": "benign"})
    status, _ = call(v2(feedback, path="/feedback"), context)
    assert status == 202
    captured = {p.prediction_id: p for p in aws_backend.predictions.recent(MODEL)}
    assert captured[pid].true_label == "benign"


@pytest.mark.parametrize("kind", sorted(SAMPLE_EVENTS))
def test_published_sample_events_without_content_type_predict_and_give_feedback(
    production_v1, aws_backend, body, context, kind
):
    status, answer = call(sample_event(kind, "/predict", body), context)
    assert status == 200 and len(answer["predictions"]) == 3
    pid = answer["predictions"][0]["prediction_id"]
    feedback = json.dumps({"prediction_id": pid, "label": "benign"})
    status, answer = call(sample_event(kind, "/feedback", feedback), context)
    assert (status, answer) == (202, {"status": "recorded", "prediction_id": pid})
    captured = {p.prediction_id: p for p in aws_backend.predictions.recent(MODEL)}
    assert captured[pid].true_label == "benign"


@pytest.mark.parametrize("kind", sorted(SAMPLE_EVENTS))
def test_non_finite_numbers_get_422_naming_the_record_and_field(
    production_v1, typed_frame, schema, context, kind
):
    records = typed_frame[schema.feature_names].head(2).to_dict(orient="records")
    records[1]["worst_area"] = "NUMBER"
    for number in ("NaN", "Infinity", "-Infinity", "1e400"):
        body = json.dumps({"records": records}).replace('"NUMBER"', number)
        response = inference.handler(sample_event(kind, "/predict", body), context)
        assert response["statusCode"] == 422, number
        [error] = strict_json(response["body"])["detail"]
        assert error["loc"] == ["body", "records", 1, "worst_area"]
        assert error["type"] == "finite_number"
        label = f'{{"prediction_id": "p", "label": {number}}}'
        feedback = inference.handler(sample_event(kind, "/feedback", label), context)
        assert feedback["statusCode"] == 422, number
        assert strict_json(feedback["body"])["detail"][0]["loc"] == ["body", "label"]


def test_only_json_bodies_are_read_and_duplicate_keys_are_refused(production_v1, body, context):
    text = v2(body)
    text["headers"]["content-type"] = "text/plain"
    status, answer = call(text, context)
    assert status == 415 and "application/json" in answer["detail"]
    duplicated = body[:-1] + ", " + body[1:]  # {"records": [...], "records": [...]}
    status, answer = call(sample_event("http-v2", "/predict", duplicated), context)
    assert status == 422 and answer["detail"][0]["type"] == "duplicate_key"
    assert answer["detail"][0]["input"] == "records"


def test_a_422_fits_a_lambda_response_whatever_the_body(
    production_v1, typed_frame, schema, context
):
    """Lambda refuses responses over 6 MB: a 5 MB field used to be echoed whole."""
    record = typed_frame[schema.feature_names].head(1).to_dict(orient="records")[0]
    record["worst_area"] = "9" * 5_000_000
    response = inference.handler(v2(json.dumps({"records": [record]})), context)
    assert response["statusCode"] == 422 and len(response["body"]) < 2_000
