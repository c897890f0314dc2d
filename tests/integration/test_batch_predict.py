"""`mlops predict`: a CSV scored by a registered version, row for row what /predict answers."""

from __future__ import annotations

import io
import sys

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from mlops_template.core.batch import resolve_model, score_chunk
from mlops_template.core.batch_parquet import PYARROW_MISSING
from mlops_template.core.serving.app import create_app
from mlops_template.core.serving.router import ModelRouter
from mlops_template.training.config import TrainingConfig
from mlops_template.training.datasets import TARGET, to_csv_bytes
from mlops_template.training.files import MODEL_FILE
from mlops_template.training.schema import infer_schema
from mlops_template.training.train import train
from mlops_template.training.validation import CSV_TEXT_OPTIONS, validate_csv

from .conftest import MODEL, register


@pytest.fixture
def sample(tmp_path, frame):
    """The sample data with an id column, as a file to score (the target column is ignored)."""
    data = frame.copy()
    data.insert(0, "patient", [f"P{i:04d}" for i in range(len(data))])
    path = tmp_path / "in.csv"
    path.write_bytes(to_csv_bytes(data))
    return path


def predict_api(backend, records):
    router = ModelRouter(
        backend.registry, backend.artifacts, MODEL, "production", refresh_seconds=0
    )
    client = TestClient(create_app(router, capture_sample_rate=0))
    response = client.post("/predict", json={"records": records})
    assert response.status_code == 200, response.text
    return response.json()["predictions"]


def test_every_row_is_scored_as_predict_answers_it_with_its_keys(
    run, live, backend, sample, tmp_path, typed_frame, schema
):
    out = tmp_path / "out.csv"
    result = run(
        "predict", "--data", str(sample), "--out", str(out), "--keys", "patient",
        "--chunk-rows", "100",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "569 rows, 569 scored, 0 rejected" in result.output
    scored = pd.read_csv(out)
    assert len(scored) == 569
    classes = schema.target.classes
    assert list(scored.columns) == [
        "patient", "prediction_id", "label", "probability",
        *[f"probability_{c}" for c in classes], "model", "version",
    ]  # fmt: skip
    assert scored["patient"].tolist() == [f"P{i:04d}" for i in range(569)]
    assert (scored["version"] == live.version).all() and (scored["model"] == MODEL).all()
    assert scored["prediction_id"].is_unique
    assert scored["prediction_id"].str.endswith("-2").iloc[0]  # line 2: the first row

    answers = predict_api(backend, typed_frame[schema.feature_names].to_dict(orient="records"))
    assert scored["label"].tolist() == [a["label"] for a in answers]
    assert np.allclose(scored["probability"], [a["probability"] for a in answers], atol=1e-6)
    sums = scored[[f"probability_{c}" for c in classes]].sum(axis=1)
    assert np.allclose(sums, 1.0, atol=1e-5)
    top = scored[[f"probability_{c}" for c in classes]].max(axis=1)
    assert np.allclose(top, scored["probability"])
    assert (tmp_path / "out.rejects.csv").read_text().startswith("line,reason,patient,")

    again = tmp_path / "again.csv"
    assert run("predict", "--data", str(sample), "--out", str(again)).exit_code == 0
    # Deterministic ids: the same file scored by the same version, the same ids.
    assert pd.read_csv(again)["prediction_id"].tolist() == scored["prediction_id"].tolist()


def test_bad_rows_go_to_the_rejects_file_with_their_line_and_reason(run, live, sample, tmp_path):
    lines = sample.read_text().splitlines()
    header = lines[0].split(",")
    radius = header.index("mean_radius")
    texture = header.index("mean_texture")

    def spoil(line_number: int, column: int, value: str) -> None:
        cells = lines[line_number - 1].split(",")
        cells[column] = value
        lines[line_number - 1] = ",".join(cells)

    spoil(5, radius, "twelve")  # text in a numeric column
    spoil(9, texture, "")  # missing where the column had no missing value in training
    spoil(250, radius, "inf")  # not finite
    spoil(251, radius, "1e39")  # beyond float32
    lines.insert(400, "")  # line 401: a blank line is a row of missing values
    sample.write_text("\n".join(lines) + "\n")
    out, rejects = tmp_path / "out.csv", tmp_path / "bad.csv"
    result = run(
        "predict", "--data", str(sample), "--out", str(out), "--rejects", str(rejects),
        "--keys", "patient", "--chunk-rows", "64",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "570 rows, 565 scored, 5 rejected" in result.output
    scored, bad = pd.read_csv(out), pd.read_csv(rejects)
    assert len(scored) == 570 - len(bad)
    assert bad["line"].tolist() == [5, 9, 250, 251, 401]
    # Line n is the file's row n - 2: the lines name the rows spoiled.
    assert bad["patient"].tolist()[:4] == ["P0003", "P0007", "P0248", "P0249"]
    assert pd.isna(bad["patient"].iloc[4]) and "and 25 more" in bad["reason"].iloc[4]
    reasons = bad["reason"].tolist()
    assert reasons[0].startswith("mean_radius: Input should be a valid number")
    assert "'twelve'" in reasons[0]
    assert reasons[1].startswith("mean_texture: Input should be a valid number")
    assert "finite number" in reasons[2]
    assert "mean_radius: Input should be less than or equal to" in reasons[3]
    assert bad["mean_radius"].tolist()[0] == "twelve"  # the row as it was in the file
    assert not set(bad["patient"]) & set(scored["patient"])


def test_version_or_stage_picks_the_model(run, backend, trained, sample, tmp_path):
    first = register(backend, trained, "r1")
    second = register(backend, trained, "r2")
    backend.registry.promote(MODEL, first.version, "production", actor="test")
    backend.registry.promote(MODEL, second.version, "staging", actor="test")
    for options, version in [
        ((), first.version),
        (("--stage", "staging"), second.version),
        (("--version", str(first.version)), first.version),
    ]:
        out = tmp_path / f"out-{version}-{len(options)}.csv"
        result = run("predict", "--data", str(sample), "--out", str(out), *options)
        assert result.exit_code == 0, result.output
        assert set(pd.read_csv(out)["version"]) == {version}
    both = run("predict", "--data", str(sample), "--out", str(tmp_path / "x.csv"),
               "--stage", "staging", "--version", "1")  # fmt: skip
    assert both.exit_code == 2
    nowhere = run("predict", "--data", str(sample), "--out", str(tmp_path / "x.csv"),
                  "--stage", "canary")  # fmt: skip
    assert nowhere.exit_code == 1 and "no version of bc is in canary" in nowhere.output


def test_a_tampered_artifact_is_refused(run, live, backend, sample, tmp_path):
    key = live.artifacts[MODEL_FILE].key
    backend.artifacts.put(key, backend.artifacts.get(key) + b"\0")
    out = tmp_path / "out.csv"
    result = run("predict", "--data", str(sample), "--out", str(out))
    assert result.exit_code == 1
    assert "SHA-256" in result.output and "the registry recorded" in result.output
    assert not out.exists()


def test_a_file_without_a_feature_column_is_refused_and_leaves_no_output(
    run, live, frame, tmp_path
):
    data = tmp_path / "in.csv"
    data.write_bytes(to_csv_bytes(frame.drop(columns=["mean_radius"])))
    out = tmp_path / "out.csv"
    result = run("predict", "--data", str(data), "--out", str(out), "--keys", "nope")
    assert result.exit_code == 3
    assert "mean_radius" in result.output
    assert not out.exists() and not list(tmp_path.glob("*.partial"))


def test_unknown_categories_are_scored_or_rejected_when_strict(backend, frame, tmp_path):
    data = frame.copy()
    data["clinic"] = np.where(np.arange(len(data)) % 2 == 0, "north", "south")
    report_bytes = to_csv_bytes(data)
    schema = infer_schema(pd.read_csv(io.BytesIO(report_bytes)), TARGET)
    report, typed = validate_csv(report_bytes, schema)
    assert report.passed and typed is not None
    run_ = train(typed, schema, TrainingConfig(model_name=MODEL, target=TARGET), data_sha256="x")
    version = register(backend, run_)
    loaded = resolve_model(backend.registry, backend.artifacts, MODEL, version=version.version)

    chunk = data.head(4).copy()
    chunk["clinic"] = ["north", "east", None, "south"]
    raw = pd.read_csv(io.BytesIO(to_csv_bytes(chunk)), **CSV_TEXT_OPTIONS)
    lenient = score_chunk(loaded, raw, batch="b")
    assert len(lenient.predictions) == 3 and lenient.unknown_categories == {"clinic": 1}
    assert lenient.rejects["line"].tolist() == [4]  # a missing value, never seen in training
    strict = score_chunk(loaded, raw, batch="b", strict_categories=True)
    assert strict.rejects["line"].tolist() == [3, 4]
    assert "clinic: 'east' is not a known category" in strict.rejects["reason"].iloc[0]
    assert strict.predictions["prediction_id"].tolist() == ["b-2", "b-5"]


def test_a_ragged_file_is_refused_naming_the_line_and_a_header_alone_scores_nothing(
    run, live, sample, tmp_path
):
    lines = sample.read_text().splitlines()
    lines[300] += ",1,2"  # line 301: more cells than the header
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.csv"
    result = run("predict", "--data", str(ragged), "--out", str(out), "--chunk-rows", "100")
    assert result.exit_code == 3
    assert "not valid CSV" in result.output and "line 301" in result.output
    assert not out.exists() and not (tmp_path / "out.rejects.csv").exists()
    assert not list(tmp_path.glob("*.partial"))  # nor what the first chunks wrote

    header = tmp_path / "header.csv"
    header.write_text(lines[0] + "\n")
    result = run("predict", "--data", str(header), "--out", str(out), "--keys", "patient")
    assert result.exit_code == 0, result.output
    assert "0 rows, 0 scored, 0 rejected" in result.output
    assert out.read_text().startswith("patient,prediction_id,label,")
    assert (tmp_path / "out.rejects.csv").read_text().startswith("line,reason,patient,")


@pytest.mark.parametrize(
    ("keys", "said"),
    [
        ("nope", "key column nope is not in the file"),
        ("patient,label", "key column label is an output column's name"),
    ],
)
def test_key_columns_must_be_in_the_file_and_not_collide(run, live, sample, tmp_path, keys, said):
    out = tmp_path / "out.csv"
    result = run("predict", "--data", str(sample), "--out", str(out), "--keys", keys)
    assert result.exit_code == 3 and said in result.output
    assert not out.exists()


# Parquet input (core/batch_parquet.py): the same rows as a CSV, scored the same; rows numbered.


def spoiled_sample(frame):
    """The sample with an id column and four bad rows (file rows 3 and 150: a missing value in a
    column that had none in training; rows 151 and 401: an infinity), as a frame."""
    data = frame.copy()
    data.insert(0, "patient", [f"P{i:04d}" for i in range(len(data))])
    data["mean_texture"] = data["mean_texture"].astype(float)
    data["mean_radius"] = data["mean_radius"].astype(float)
    data.loc[[2, 149], "mean_texture"] = None
    data.loc[[150, 400], "mean_radius"] = np.inf
    return data


def test_parquet_rows_score_as_the_same_csv_rows_with_continuous_row_numbers(
    run, live, frame, tmp_path
):
    pytest.importorskip("pyarrow")
    data = spoiled_sample(frame)
    csv, parquet = tmp_path / "in.csv", tmp_path / "in.parquet"
    csv.write_bytes(to_csv_bytes(data))
    data.to_parquet(parquet, index=False, row_group_size=250)
    outputs = {}
    for source in (csv, parquet):
        out = tmp_path / f"out-{source.suffix[1:]}.csv"
        result = run(
            "predict", "--data", str(source), "--out", str(out), "--keys", "patient",
            "--chunk-rows", "100",  # 6 batches, across 3 row groups
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "569 rows, 565 scored, 4 rejected" in result.output
        outputs[source.suffix] = (
            pd.read_csv(out),
            pd.read_csv(tmp_path / f"out-{source.suffix[1:]}.rejects.csv"),
        )
    (by_csv, csv_bad), (by_parquet, parquet_bad) = outputs[".csv"], outputs[".parquet"]
    assert by_parquet["patient"].tolist() == by_csv["patient"].tolist()
    assert by_parquet["label"].tolist() == by_csv["label"].tolist()
    probabilities = [c for c in by_csv.columns if c.startswith("probability")]
    assert np.allclose(by_parquet[probabilities], by_csv[probabilities], atol=1e-6)

    # The rejects: the same rows for the same reasons; a CSV's lines, a Parquet file's rows.
    assert csv_bad["line"].tolist() == [4, 151, 152, 402]  # the header is line 1
    assert list(parquet_bad.columns[:3]) == ["row", "reason", "patient"]
    assert parquet_bad["row"].tolist() == [3, 150, 151, 401]  # 1-based, across batches
    assert parquet_bad["patient"].tolist() == ["P0002", "P0149", "P0150", "P0400"]
    assert parquet_bad["reason"].tolist() == csv_bad["reason"].tolist()
    assert parquet_bad["reason"].iloc[0].startswith("mean_texture: Input should be a valid number")
    assert "finite number" in parquet_bad["reason"].iloc[2]

    # Prediction ids `<batch>-<row>`: continuous over the batches, every row but the rejected.
    rows = by_parquet["prediction_id"].str.rsplit("-", n=1).str[1].astype(int).tolist()
    assert rows == [r for r in range(1, 570) if r not in {3, 150, 151, 401}]
    batch_ids = {i.rsplit("-", 1)[0] for i in by_parquet["prediction_id"]}
    assert len(batch_ids) == 1 and batch_ids != {
        i.rsplit("-", 1)[0] for i in by_csv["prediction_id"]
    }  # the batch id hashes the file's bytes


def test_parquet_by_format_option_and_what_is_refused(run, live, frame, tmp_path):
    pytest.importorskip("pyarrow")
    data = frame.copy()
    data.insert(0, "patient", [f"P{i:04d}" for i in range(len(data))])
    named = tmp_path / "export.bin"  # not a .parquet name: --format says what it is
    data.to_parquet(named, index=False)
    out = tmp_path / "out.csv"
    result = run("predict", "--data", str(named), "--out", str(out), "--format", "parquet")
    assert result.exit_code == 0, result.output
    assert "569 rows, 569 scored, 0 rejected" in result.output
    assert (tmp_path / "out.rejects.csv").read_text().startswith("row,reason,patient,")

    missing = tmp_path / "missing.parquet"
    data.drop(columns=["mean_radius"]).to_parquet(missing, index=False)
    out = tmp_path / "refused.csv"
    result = run("predict", "--data", str(missing), "--out", str(out))
    assert result.exit_code == 3 and "mean_radius" in result.output
    assert not out.exists() and not list(tmp_path.glob("*.partial"))

    not_parquet = tmp_path / "text.parquet"
    not_parquet.write_bytes(to_csv_bytes(data))
    result = run("predict", "--data", str(not_parquet), "--out", str(out))
    assert result.exit_code == 3 and "text.parquet is not valid Parquet" in result.output
    assert not out.exists() and not list(tmp_path.glob("*.partial"))

    empty = tmp_path / "empty.parquet"
    data.head(0).to_parquet(empty, index=False)
    result = run("predict", "--data", str(empty), "--out", str(out), "--keys", "patient")
    assert result.exit_code == 0, result.output
    assert "0 rows, 0 scored, 0 rejected" in result.output
    assert out.read_text().startswith("patient,prediction_id,label,")
    assert (tmp_path / "refused.rejects.csv").read_text().startswith("row,reason,patient,")


def test_parquet_without_pyarrow_is_a_one_line_usage_error(
    run, live, sample, tmp_path, monkeypatch
):
    for name in ("pyarrow", "pyarrow.parquet"):
        monkeypatch.setitem(sys.modules, name, None)  # `import pyarrow` raises ImportError
    data = tmp_path / "in.parquet"
    data.write_bytes(b"PAR1")
    out = tmp_path / "out.csv"
    result = run("predict", "--data", str(data), "--out", str(out))
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {PYARROW_MISSING}"
    assert not out.exists()
    # A CSV needs no pyarrow.
    assert run("predict", "--data", str(sample), "--out", str(out)).exit_code == 0
