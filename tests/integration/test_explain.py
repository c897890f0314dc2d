"""`mlops explain`: one record through a version's ONNX graph, step by step."""

from __future__ import annotations

import json
import math

from mlops_template.training.files import MODEL_FILE
from mlops_template.training.onnx_model import OnnxClassifier


def explain(run, version: int, record: dict) -> dict:
    result = run("explain", "--version", str(version), "--record", json.dumps(record), "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_explain_shows_each_step_the_output_and_contributions(
    run, backend, live, schema, typed_frame
):
    record = typed_frame[schema.feature_names].iloc[0].to_dict()
    explained = explain(run, live.version, record)
    imputer = next(s for s in explained["steps"] if s["op"] == "Imputer")
    assert imputer["size"] == len(schema.numeric_features)
    assert all(math.isfinite(v) for v in imputer["values"])
    assert imputer["values"][1] == record[schema.feature_names[1]]  # nothing missing: unchanged
    model = OnnxClassifier(backend.artifacts.get(live.artifacts[MODEL_FILE].key), schema)
    labels, probabilities = model.predict_records([record])
    assert explained["label"] == labels[0]  # what the API would answer
    assert explained["probabilities"][labels[0]] == round(float(probabilities[0].max()), 6)
    assert {c["feature"] for c in explained["contributions"]} == set(schema.feature_names)
    assert explained["method"].startswith("baseline replacement")


def test_a_record_at_the_baseline_has_no_contributions(run, live, schema):
    at_means = {c.name: c.mean for c in schema.columns}
    explained = explain(run, live.version, at_means)
    assert all(c["contribution"] == 0 for c in explained["contributions"])


def test_explain_names_the_field_a_bad_record_gets_wrong(run, live, schema):
    record = {name: 1.0 for name in schema.feature_names}
    record[schema.feature_names[3]] = "wide"
    result = run("explain", "--version", str(live.version), "--record", json.dumps(record))
    assert result.exit_code == 1
    assert schema.feature_names[3] in result.output


def test_explain_prints_tables_by_default(run, live, schema):
    record = {c.name: c.mean for c in schema.columns}
    result = run("explain", "--version", str(live.version), "--record", json.dumps(record))
    assert result.exit_code == 0, result.output
    assert "the record's path" in result.output and "contribution" in result.output
