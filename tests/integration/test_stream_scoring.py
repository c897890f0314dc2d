"""Streaming scoring's core on the local backend: messages validated like /predict, the
deterministic ids, the local results file, and what is rejected."""

from __future__ import annotations

import json

import pytest

from mlops_template.core.serving.router import ModelRouter
from mlops_template.core.serving.scoring import Emitter, Scorer, ServingLimits
from mlops_template.core.serving.stream import MessageRejected, ModelUnavailable, StreamScorer
from mlops_template.core.settings import Settings
from mlops_template.infra import build_result_queue

from .conftest import MODEL


@pytest.fixture
def home(tmp_path):
    return tmp_path / "home"


@pytest.fixture
def streamer(backend, home):
    router = ModelRouter(backend.registry, backend.artifacts, MODEL, refresh_seconds=0)
    limits = ServingLimits(
        max_body_bytes=1 << 20, max_batch_records=5, capture_sample_rate=1.0, capture_max_records=5
    )
    scorer = Scorer(router, limits, Emitter(backend.metrics, router), backend.predictions)
    return StreamScorer(scorer, build_result_queue(Settings(backend="local", home=home)))


@pytest.fixture
def records(typed_frame, schema):
    return typed_frame[schema.feature_names].head(6).to_dict(orient="records")


def test_results_go_to_the_local_file_with_deterministic_ids(streamer, live, records, home):
    streamer.handle(json.dumps({"records": records[:3], "request_id": "r.1"}), "m-1")
    streamer.handle(json.dumps(records[3]), "m-2")
    streamer.handle(json.dumps({**records[4], "prediction_id": "p-9"}), "m-3")
    lines = [json.loads(line) for line in (home / "stream-results.jsonl").read_text().splitlines()]
    assert [[p["prediction_id"] for p in r["predictions"]] for r in lines] == [
        ["r.1-0", "r.1-1", "r.1-2"],
        ["m-2-0"],
        ["p-9"],
    ]
    assert {r["version"] for r in lines} == {live.version}


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"[1, 2]",
        b'"text"',
        b'{"records": []}',
        b'{"records": [{}]}',
        b'{"records": [], "records": []}',
        b'{"request_id": "has spaces", "records": [{}]}',
    ],
)
def test_what_cannot_be_scored_is_rejected(streamer, live, body):
    with pytest.raises(MessageRejected):
        streamer.score(body, "m")


def test_a_duplicate_key_and_too_many_records_are_rejected_like_predict(streamer, live, records):
    record = json.dumps(records[0])
    with pytest.raises(MessageRejected, match="a key appears twice"):
        streamer.score(record[:-1] + ', "mean_radius": 1}', "m")
    with pytest.raises(MessageRejected, match="records"):
        streamer.score(json.dumps({"records": records[:6]}), "m")  # the limit is 5


def test_a_single_record_with_an_unknown_field_names_it(streamer, live, records):
    with pytest.raises(MessageRejected) as caught:
        streamer.score(json.dumps({**records[0], "colour": "red"}), "m")
    assert caught.value.errors[0]["loc"] == ["colour"]


def test_no_model_is_unavailable_not_rejected(streamer, records):
    with pytest.raises(ModelUnavailable):
        streamer.score(json.dumps(records[0]), "m")
