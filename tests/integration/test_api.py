"""The prediction API through real HTTP semantics (Starlette's test client), local backend."""

from __future__ import annotations

import json
import logging
import re
import time
import warnings

import pytest
from fastapi.testclient import TestClient

from mlops_template.core.pipeline import LocalPipeline, PipelineSteps
from mlops_template.core.serving.app import create_app
from mlops_template.core.serving.router import ModelRouter
from mlops_template.core.smoke import smoke_test_from_api
from mlops_template.training.config import TrainingConfig
from mlops_template.training.datasets import to_csv_bytes
from mlops_template.training.files import MODEL_FILE
from mlops_template.training.schema import infer_schema
from mlops_template.training.train import train
from mlops_template.training.validation import validate_csv

from .conftest import MODEL, register


def strict_json(text: str):
    """JSON as the standard has it: NaN and Infinity are not JSON, whatever Python's json says."""

    def refuse(constant: str):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def provider(backend):
    return ModelRouter(
        backend.registry,
        backend.artifacts,
        MODEL,
        "production",
        refresh_seconds=0,
        metrics=backend.metrics,
    )


@pytest.fixture
def client(backend, provider):
    app = create_app(
        provider,
        predictions=backend.predictions,
        metrics=backend.metrics,
        max_batch_records=20,
        max_body_bytes=200_000,
    )
    return TestClient(app)


@pytest.fixture
def records(typed_frame, schema):
    return typed_frame[schema.feature_names].head(50).to_dict(orient="records")


def test_health_is_503_until_a_model_is_in_the_stage(client, backend, trained):
    response = client.get("/health")
    assert response.status_code == 503
    assert "no version of bc is in production" in response.json()["reason"]
    assert client.post("/predict", json={"records": [{}]}).status_code == 503
    version = register(backend, trained)
    backend.registry.promote(MODEL, version.version, "production", actor="test")
    assert client.get("/health").json() == {
        "status": "ok",
        "model": MODEL,
        "version": 1,
        "stage": "production",
        "reason": None,
        "capture": {"status": "ok", "errors": 0, "reason": None},
    }


def test_predict_scores_one_or_many_records(client, live, records, typed_frame):
    one = client.post("/predict", json={"records": records[:1]})
    assert one.status_code == 200
    body = one.json()
    assert (body["model"], body["version"], body["stage"]) == (MODEL, 1, "production")
    assert len(body["predictions"]) == 1
    many = client.post("/predict", json={"records": records[:20]}).json()["predictions"]
    assert len(many) == 20 and len({p["prediction_id"] for p in many}) == 20
    truth = typed_frame["diagnosis"].head(20).tolist()
    accuracy = sum(p["label"] == t for p, t in zip(many, truth, strict=True)) / 20
    assert accuracy > 0.9
    assert all(0.5 <= p["probability"] <= 1 for p in many)
    assert all("probabilities" not in p for p in many)  # binary: the answer as it always was


def test_invalid_records_get_422_naming_the_record_and_field(client, live, records):
    bad = [dict(r) for r in records[:3]]
    bad[1]["mean_radius"] = "large"
    del bad[2]["worst_area"]
    bad[0]["colour"] = "red"
    response = client.post("/predict", json={"records": bad})
    assert response.status_code == 422
    locations = {tuple(e["loc"]) for e in response.json()["detail"]}
    assert locations == {
        ("body", "records", 1, "mean_radius"),
        ("body", "records", 2, "worst_area"),
        ("body", "records", 0, "colour"),
    }


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_get_422_naming_the_record_and_field(client, live, records, number):
    """Python's json and many clients write these; pydantic-core reads them (1e400 as inf)."""
    bad = [dict(r) for r in records[:2]]
    bad[1]["mean_radius"] = "NUMBER"
    body = json.dumps({"records": bad}).replace('"NUMBER"', number)
    response = client.post("/predict", content=body)
    assert response.status_code == 422
    [error] = strict_json(response.text)["detail"]
    assert (error["loc"], error["type"]) == (["body", "records", 1, "mean_radius"], "finite_number")
    for where in ('{"records": NUMBER}', '{"records": [NUMBER]}', '{"records": [{"x": NUMBER}]}'):
        nested = client.post("/predict", content=where.replace("NUMBER", number))
        assert nested.status_code == 422 and strict_json(nested.text)["detail"]
    feedback = client.post("/feedback", content=f'{{"prediction_id": "p", "label": {number}}}')
    assert feedback.status_code == 422
    assert strict_json(feedback.text)["detail"][0]["loc"] == ["body", "label"]


@pytest.mark.parametrize("body", [{}, {"records": []}, {"records": "x"}, {"rows": [{}]}])
def test_malformed_bodies_get_422(client, live, body):
    assert client.post("/predict", json=body).status_code == 422


def test_batches_over_the_limit_get_422_and_bodies_over_the_limit_413(client, live, records):
    too_many = client.post("/predict", json={"records": records[:1] * 21})
    assert too_many.status_code == 422
    assert too_many.json()["detail"][0]["loc"] == ["body", "records"]
    big = client.post(
        "/predict", content=b"x" * 300_000, headers={"content-type": "application/json"}
    )
    assert big.status_code == 413 and "limit" in big.json()["detail"]


@pytest.fixture
def roomy_client(backend, provider):
    """The API with its default limits (a 6 MB body)."""
    return TestClient(create_app(provider, predictions=backend.predictions))


def test_a_422_is_bounded_and_logs_no_input_whatever_the_body(roomy_client, live, records, caplog):
    """A 4.8 MB body with 300k unknown keys answered a 39 MB 422; a 5 MB field came back whole
    (and a rejected field may be a patient id): now the first errors, each with an excerpt."""
    caplog.set_level(logging.DEBUG)
    extra_keys = {f"k{i:06d}": 0 for i in range(300_000)}
    body = json.dumps({"records": [{**records[0], **extra_keys}]})
    assert len(body) > 4_000_000
    started = time.perf_counter()
    many = roomy_client.post("/predict", content=body, headers={"content-type": "application/json"})
    seconds = time.perf_counter() - started
    assert many.status_code == 422
    assert len(many.content) < 10_000, len(many.content)
    answer = many.json()
    assert answer["error_count"] == 300_000 and len(answer["detail"]) == 20
    assert answer["detail"][0]["loc"] == ["body", "records", 0, "k000000"]
    huge = "patient-" + "7" * 5_000_000
    big_field = roomy_client.post(
        "/predict", json={"records": [{**records[0], "mean_radius": huge}]}
    )
    big_key = roomy_client.post("/predict", json={"records": [{**records[0], huge: 1}]})
    big_label = roomy_client.post("/feedback", json={"prediction_id": "p", "label": huge})
    for response in (big_field, big_key, big_label):
        assert response.status_code == 422 and len(response.content) < 2_000, response.text[:500]
        assert response.json()["error_count"] == 1
        assert "(5000008 characters)" in response.text
    assert big_field.json()["detail"][0]["input"].startswith("patient-777")
    missing = roomy_client.post("/predict", json={"records": [{"mean_radius": 1.0}]})
    assert all(e["input"] == "<object of 1 keys>" for e in missing.json()["detail"])
    assert "7" * 200 not in caplog.text and "k299999" not in caplog.text
    print(f"300k unknown keys: 422 in {seconds:.2f} s, {len(many.content)} bytes")


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "x"],
)
def test_bodies_that_are_not_json_get_415(client, live, records, content_type):
    """What a browser page elsewhere can post without asking (a "simple" request)."""
    body = json.dumps({"records": records[:1]})
    headers = {"content-type": content_type}
    answer = client.post("/predict", content=body, headers=headers)
    assert answer.status_code == 415 and "application/json" in answer.json()["detail"]
    prediction_id = client.post("/predict", json={"records": records[:1]}).json()["predictions"][0]
    label = json.dumps({"prediction_id": prediction_id["prediction_id"], "label": "benign"})
    assert client.post("/feedback", content=label, headers=headers).status_code == 415
    for accepted in ("application/json", "application/json; charset=utf-8", "application/x+json"):
        ok = client.post("/predict", content=body, headers={"content-type": accepted})
        assert ok.status_code == 200, accepted
    cross_site = client.post("/predict", content=body, headers={"sec-fetch-site": "cross-site"})
    assert cross_site.status_code == 403  # a browser's request without a content-type


def test_duplicate_keys_get_422_naming_the_key(client, live, records):
    """pydantic-core keeps the last of duplicate keys; the record scored would not be the one
    the client (or a proxy that read the first) saw."""
    record = json.dumps(records[0])
    duplicated = record[:-1] + ', "mean_radius": 99.0}'
    for body in (
        f'{{"records": [{duplicated}]}}',
        f'{{"records": [{record}], "records": [{record}]}}',
        f'{{"records": [{record}, {duplicated.replace(", ", ",  ")}]}}',
    ):
        answer = client.post("/predict", content=body)
        assert answer.status_code == 422, body[-80:]
        [error] = answer.json()["detail"]
        assert error["type"] == "duplicate_key" and error["input"] in ("mean_radius", "records")
    feedback = client.post(
        "/feedback", content='{"prediction_id": "p", "label": "benign", "label": "malignant"}'
    )
    assert feedback.status_code == 422 and feedback.json()["detail"][0]["input"] == "label"
    # Colons inside strings are not keys: such a body takes the exact check and passes (stored:
    # feedback for an id never captured joins nothing).
    with_colons = client.post("/feedback", json={"prediction_id": "a:b:c", "label": "benign"})
    assert with_colons.status_code == 202


def test_model_endpoint_describes_the_served_version(client, live):
    info = client.get("/model").json()
    assert info["version"] == 1 and info["stage"] == "production"
    assert info["model_sha256"] == live.model_sha256
    assert len(info["schema"]["columns"]) == 30
    assert info["metrics"]["roc_auc"] > 0.9


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_everything_from_the_app_itself(client, page):
    """They render offline: no external host, and every script, style and the spec served."""
    html = client.get(page)
    assert html.status_code == 200
    assert "://" not in html.text
    urls = re.findall(r'(?:src|href|spec-url)="([^"]+)"', html.text)
    urls += re.findall(r"url: '([^']+)'", html.text)
    assert "/openapi.json" in urls and any(url.endswith(".js") for url in urls)
    for url in urls:
        asset = client.get(url)
        assert asset.status_code == 200 and len(asset.content) > 1000, url
    if page == "/docs":  # Swagger UI's online validator would send the spec's URL out
        assert '"validatorUrl": null' in html.text


def test_feedback_attaches_the_true_label_to_a_captured_prediction(client, live, records, backend):
    prediction = client.post("/predict", json={"records": records[:1]}).json()["predictions"][0]
    ok = client.post(
        "/feedback", json={"prediction_id": prediction["prediction_id"], "label": "benign"}
    )
    assert ok.status_code == 202
    captured = backend.predictions.recent(MODEL)
    assert captured[0].true_label == "benign" and captured[0].version == 1
    second = client.post("/predict", json={"records": records[:1]}).json()["predictions"][0]
    no_content_type = client.post(  # as API Gateway's published sample events
        "/feedback",
        content=json.dumps({"prediction_id": second["prediction_id"], "label": "malignant"}),
    )
    assert no_content_type.status_code == 202, no_content_type.text
    assert backend.predictions.recent(MODEL)[0].true_label == "malignant"
    # Captures are not indexed by id (docs/data-plane.md): a label for an id never captured is
    # stored and joins nothing.
    unknown = client.post("/feedback", json={"prediction_id": "nope", "label": "benign"})
    assert unknown.status_code == 202
    assert "nope" not in {p.prediction_id for p in backend.predictions.recent(MODEL)}
    bad_label = client.post(
        "/feedback", json={"prediction_id": prediction["prediction_id"], "label": "x"}
    )
    assert bad_label.status_code == 422 and bad_label.json()["detail"][0]["loc"] == [
        "body",
        "label",
    ]


def test_feedback_is_recorded_once_per_prediction(client, live, records, backend):
    """100 honest labels then 100 wrong ones for the same ids: the wrong ones are refused, so
    the accuracy the monitor reports (and the retrain alarm watches) stays the honest one."""
    predictions = client.post("/predict", json={"records": records[:20]}).json()["predictions"]
    for p in predictions:
        honest = {"prediction_id": p["prediction_id"], "label": p["label"]}
        assert client.post("/feedback", json=honest).status_code == 202
    wrong = {"benign": "malignant", "malignant": "benign"}
    for p in predictions:
        flipped = {"prediction_id": p["prediction_id"], "label": wrong[p["label"]]}
        refused = client.post("/feedback", json=flipped)
        assert refused.status_code == 409 and "already has feedback" in refused.json()["detail"]
    same_again = {
        "prediction_id": predictions[0]["prediction_id"],
        "label": predictions[0]["label"],
    }
    assert client.post("/feedback", json=same_again).status_code == 409
    labelled = [p for p in backend.predictions.recent(MODEL) if p.true_label is not None]
    assert len(labelled) == 20 and all(p.true_label == p.label for p in labelled)
    assert len(backend.metrics.read("Feedback")) == 20


def test_a_stage_move_is_served_without_a_restart(client, live, backend, trained):
    second = register(backend, trained, run_id="r2")
    backend.registry.promote(MODEL, second.version, "production", actor="test")
    assert client.get("/model").json()["version"] == 2
    backend.registry.rollback(MODEL, "production", actor="test")
    assert client.post("/predict", json={"records": [{}]}).status_code == 422
    assert client.get("/model").json()["version"] == 1


def test_a_tampered_artifact_is_never_served(client, backend, trained):
    version = register(backend, trained)
    backend.registry.promote(MODEL, version.version, "production", actor="test")
    # Changed after its promotion (which itself refuses a version whose files do not match).
    backend.artifacts.put(version.artifacts[MODEL_FILE].key, b"not the model")
    response = client.get("/health")
    assert response.status_code == 503
    assert "ArtifactIntegrityError" in response.json()["reason"]
    assert client.post("/predict", json={"records": [{}]}).status_code == 503


def test_the_last_good_model_keeps_serving_when_the_new_one_is_broken(
    client, live, backend, trained, records
):
    assert client.post("/predict", json={"records": records[:1]}).json()["version"] == 1
    broken = register(backend, trained, run_id="r2")
    backend.registry.promote(MODEL, broken.version, "production", actor="test")
    backend.artifacts.delete(broken.artifacts[MODEL_FILE].key)  # lost after its promotion
    response = client.post("/predict", json={"records": records[:1]})
    assert response.status_code == 200 and response.json()["version"] == 1
    health = client.get("/health").json()
    assert health["version"] == 1 and "cannot load bc v2" in health["reason"]
    assert any(p["name"] == "ModelLoadFailed" for p in backend.metrics.read())


def test_the_serving_path_imports_no_pandas_or_scikit_learn():
    import subprocess
    import sys

    code = (
        "import sys; import mlops_template.core.serving.app, mlops_template.infra.local;"
        "heavy = ('pandas', 'sklearn', 'skl2onnx', 'scipy', 'pyarrow');"
        "bad = [m for m in heavy if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_canary_answers_its_share_of_requests(backend, live, trained, records):
    second = register(backend, trained, run_id="r2")
    backend.registry.promote(MODEL, second.version, "canary", actor="test", weight=0.25)
    draws = iter([0.1, 0.9])  # below the weight: canary; above: production
    router = ModelRouter(
        backend.registry,
        backend.artifacts,
        MODEL,
        "production",
        refresh_seconds=0,
        rng=lambda: next(draws),
    )
    client = TestClient(create_app(router, predictions=backend.predictions))
    first = client.post("/predict", json={"records": records[:1]}).json()
    then = client.post("/predict", json={"records": records[:1]}).json()
    assert (first["stage"], first["version"]) == ("canary", 2)
    assert (then["stage"], then["version"]) == ("production", 1)


def test_a_shadow_scores_every_request_but_never_answers(backend, live, trained, records):
    second = register(backend, trained, run_id="r2")
    backend.registry.promote(MODEL, second.version, "shadow", actor="test")
    router = ModelRouter(
        backend.registry, backend.artifacts, MODEL, "production", refresh_seconds=0
    )
    client = TestClient(
        create_app(router, predictions=backend.predictions, metrics=backend.metrics)
    )
    answer = client.post("/predict", json={"records": records[:4]}).json()
    assert answer["version"] == 1 and len(answer["predictions"]) == 4
    captured = backend.predictions.recent(MODEL)
    assert sorted({(p.stage, p.version) for p in captured}) == [("production", 1), ("shadow", 2)]
    agreement = [p for p in backend.metrics.read("ShadowAgreement")]
    assert agreement and agreement[0]["dimensions"]["version"] == "2"
    assert agreement[0]["value"] == 1.0  # same training data, same model


def test_metrics_are_split_by_the_version_that_served(client, live, records, backend):
    client.post("/predict", json={"records": records[:3]})
    points = backend.metrics.read("Predictions")
    assert points[-1]["value"] == 3 and points[-1]["dimensions"]["version"] == "1"
    assert backend.metrics.read("PredictionLatency")[-1]["unit"] == "Milliseconds"


@pytest.fixture
def wine(backend):
    """A three-class model trained through the pipeline on integer labels (0, 1, 2), served."""
    from sklearn.datasets import load_wine

    bunch = load_wine(as_frame=True)
    data = bunch.data.assign(cultivar=bunch.target)
    steps = PipelineSteps(backend)
    config = {"model_name": "wine", "target": "cultivar", "model.algorithm": "logistic_regression"}
    steps.save_config(TrainingConfig().with_overrides(**config))
    backend.data.put("incoming/wine.csv", data.to_csv(index=False).encode())
    with warnings.catch_warnings():
        # e.g. scikit-learn's "y_prob values do not sum to one" on float32 ONNX probabilities
        warnings.simplefilter("error")
        result = LocalPipeline(backend).run("wine", "incoming/wine.csv")
    assert result.status == "registered", result.error
    backend.registry.promote("wine", result.version, "production", actor="test")
    router = ModelRouter(backend.registry, backend.artifacts, "wine", refresh_seconds=0)
    client = TestClient(create_app(router, predictions=backend.predictions))
    return client, data.drop(columns="cultivar").head(5).to_dict(orient="records")


def test_labels_keep_their_type_and_multiclass_answers_every_probability(wine):
    client, records = wine
    predictions = client.post("/predict", json={"records": records}).json()["predictions"]
    assert [p["label"] for p in predictions] == [0] * 5  # the first rows are all cultivar 0
    for p in predictions:
        assert set(p["probabilities"]) == {"0", "1", "2"}
        assert sum(p["probabilities"].values()) == pytest.approx(1, abs=1e-5)
        assert p["probability"] == max(p["probabilities"].values())
    spec = client.get("/openapi.json").json()["components"]["schemas"]
    assert spec["Prediction"]["properties"]["label"] == {"enum": [0, 1, 2]}


def test_feedback_takes_a_label_equal_to_a_class_once_converted_to_its_type(wine, backend):
    client, records = wine
    predictions = client.post("/predict", json={"records": records[:4]}).json()["predictions"]
    for prediction, label in zip(predictions, [0, "1", 2.0], strict=False):
        feedback = {"prediction_id": prediction["prediction_id"], "label": label}
        assert client.post("/feedback", json=feedback).status_code == 202, label
    stored = {p.prediction_id: p.true_label for p in backend.predictions.recent("wine")}
    assert [stored[p["prediction_id"]] for p in predictions[:3]] == ["0", "1", "2"]
    for wrong in (3, True, 0.5, "zero"):
        feedback = {"prediction_id": predictions[3]["prediction_id"], "label": wrong}
        response = client.post("/feedback", json=feedback)
        assert response.status_code == 422, wrong
        assert response.json()["detail"][0]["loc"] == ["body", "label"]


def test_the_smoke_test_knows_the_typed_labels(wine):
    client, _ = wine
    result = smoke_test_from_api(client, expect_version=1)
    assert result.passed, result.summary()


@pytest.fixture
def live_with_a_category(backend, frame, config):
    """A model with a categorical feature (and a boolean one), in production."""
    data = frame[["mean_radius", "mean_texture", "worst_area", "diagnosis"]].copy()
    data["clinic"] = [("north", "south", "east")[i % 3] for i in range(len(data))]
    data["referred"] = [i % 2 == 0 for i in range(len(data))]
    schema = infer_schema(data, "diagnosis")
    report, typed = validate_csv(to_csv_bytes(data), schema)
    assert report.passed and typed is not None
    version = register(backend, train(typed, schema, config, data_sha256="test"))
    backend.registry.promote(MODEL, version.version, "production", actor="test")
    return data.drop(columns="diagnosis").head(4).to_dict(orient="records")


def test_unknown_categories_are_counted_per_request_and_since_load(
    client, live_with_a_category, backend
):
    records = live_with_a_category
    assert client.get("/model").json()["unknown_categories"] == {"clinic": 0, "referred": 0}
    records[1]["clinic"] = "North "
    records[2]["clinic"] = "Mars"
    assert client.post("/predict", json={"records": records}).status_code == 200
    [point] = backend.metrics.read("UnknownCategories")
    assert point["value"] == 2
    assert point["dimensions"] == {
        "model": MODEL,
        "stage": "production",
        "version": "1",
        "feature": "clinic",
    }
    client.post("/predict", json={"records": records[2:]})
    client.post("/predict", json={"records": records[:1]})  # all known: nothing to count
    assert [p["value"] for p in backend.metrics.read("UnknownCategories")] == [2, 1]
    assert client.get("/model").json()["unknown_categories"] == {"clinic": 3, "referred": 0}


def test_a_422_gives_the_limits_it_names_as_numbers(client, live):
    [error] = client.post("/predict", json={"records": []}).json()["detail"]
    assert error["ctx"] == {"min_length": 1, "actual_length": 0, "field_type": "List"}
