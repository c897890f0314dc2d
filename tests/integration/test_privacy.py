"""Privacy: personal-data columns kept out of features at `schema infer`, and erasure by a key
column (`mlops data forget`) on the local backend: stored data, captures, then a retrain."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from mlops_template.core.pipeline import PipelineSteps
from mlops_template.core.records import PredictionRecord
from mlops_template.training.datasets import TARGET, to_csv_bytes
from mlops_template.training.schema import infer_schema

from .conftest import MODEL


def luhn_card(i: int) -> str:
    """A 16-digit number that passes the Luhn checksum (test cards start with 4000)."""
    from mlops_template.training.privacy import luhn_valid

    body = f"400000{i:09d}"
    return next(body + str(d) for d in range(10) if luhn_valid(body + str(d)))


@pytest.fixture(scope="module")
def personal_frame(frame) -> pd.DataFrame:
    data = frame.head(200).copy()
    n = len(data)
    data.insert(0, "customer_id", [f"C{i % 50:03d}" for i in range(n)])  # 4 rows per customer
    data["email"] = [f"user{i}@example.com" for i in range(n)]
    data["phone"] = [f"+1 555-01{i % 100:02d}" for i in range(n)]
    data["card"] = [luhn_card(i) for i in range(n)]
    data["ip"] = [f"10.0.{i // 250}.{i % 250}" for i in range(n)]
    data["ssn"] = [f"123-45-{1000 + i:04d}" for i in range(n)]
    return data


def test_personal_columns_are_kept_out_of_features_unless_allowed(personal_frame):
    schema = infer_schema(personal_frame, TARGET)
    reasons = {c.name: c.reason for c in schema.excluded_columns}
    for name in ("email", "phone", "card", "ip", "ssn"):
        assert reasons[name] == "personal_data", name
        assert name not in schema.feature_names
    assert "customer_id" in schema.feature_names  # a repeated code is not personal by itself
    allowed = infer_schema(personal_frame, TARGET, allow_personal=["phone"])
    assert "phone" in allowed.feature_names and "email" not in allowed.feature_names


def test_numbers_that_fail_the_luhn_check_are_not_card_numbers(personal_frame):
    data = personal_frame.copy()
    data["card"] = [c[:-1] + str((int(c[-1]) + 1) % 10) for c in data["card"]]
    schema = infer_schema(data, TARGET)
    assert "card" not in {c.name for c in schema.excluded_columns if c.reason == "personal_data"}


def test_schema_infer_save_excludes_personal_columns_and_bumps_the_schema_version(
    run, tmp_path, personal_frame
):
    first = tmp_path / "first.csv"
    first.write_bytes(to_csv_bytes(personal_frame.drop(columns=["customer_id"])))
    result = run("schema", "infer", str(first), "--target", TARGET, "--save")
    assert result.exit_code == 0, result.output
    assert "schema of bc is now v1" in result.output
    assert "excluded email: personal data: looks like email (keep it: --allow-personal" in (
        result.output
    )
    added = tmp_path / "added.csv"
    added.write_bytes(to_csv_bytes(personal_frame))  # one new column: customer_id
    result = run("schema", "infer", str(added), "--target", TARGET, "--save")
    assert "schema of bc is now v2 (was v1) added customer_id" in result.output
    result = run("schema", "infer", str(added), "--target", TARGET, "--save")
    assert "unchanged: still v2" in result.output
    result = run(
        "schema", "infer", str(added), "--target", TARGET, "--save", "--allow-personal", "phone"
    )
    assert "now v3 (was v2) added phone" in result.output


def test_forget_removes_rows_from_stored_data_and_captures_then_retrains(
    run, backend, personal_frame, tmp_path
):
    from mlops_template.core.pipeline import LocalPipeline
    from mlops_template.training.config import GateConfig, TrainingConfig

    steps = PipelineSteps(backend)
    # The categorical customer_id puts the ONNX export 7e-4 from scikit-learn (above the default
    # 1e-4): this test is about erasure, not parity.
    gate = GateConfig(max_parity_error=1e-2)
    steps.save_config(TrainingConfig(model_name=MODEL, target=TARGET, gate=gate))
    backend.data.put("incoming/day1.csv", to_csv_bytes(personal_frame))
    first = LocalPipeline(backend).run(MODEL, "incoming/day1.csv", auto_promote="production")
    assert first.status == "registered", first.gate
    old = steps.latest_dataset(MODEL)
    assert old is not None and old.rows == 200
    captured = [
        PredictionRecord(
            prediction_id=f"p{i}",
            model=MODEL,
            version=1,
            stage="production",
            features={"customer_id": cid, "mean_radius": 10.0},
            label="benign",
            probability=0.9,
        )
        for i, cid in enumerate(["C001", "C002", "C003", "C001"])
    ]
    backend.predictions.record(captured)
    values = tmp_path / "erase.txt"
    values.write_text("C002\n")

    result = run(
        "data", "forget", "--key", "customer_id", "--value", "C001", "--values-file", str(values)
    )

    assert result.exit_code == 0, result.output
    assert "8 row(s) removed from 1 file(s), 3 captured prediction(s) deleted" in result.output
    assert not backend.data.exists(old.key)  # the file that held them is gone, with its report
    new = steps.latest_dataset(MODEL)
    assert new is not None and new.key != old.key and new.rows == 192
    kept = pd.read_csv(io.BytesIO(backend.data.get(new.key)))
    assert not set(kept["customer_id"]) & {"C001", "C002"} and len(kept) == 192
    assert [p.prediction_id for p in backend.predictions.recent(MODEL)] == ["p2"]
    # The retrain ran on the cleaned file: a new version that never saw those rows.
    (retrained,) = [r for r in backend.registry.runs(MODEL) if r.run_id != first.run_id]
    assert retrained.data_sha256 == new.sha256, retrained
    assert retrained.rows["train"] + retrained.rows["test"] == 192
    assert "retrain started" in result.output
    again = run("data", "forget", "--key", "customer_id", "--value", "C001")
    assert "0 row(s) removed from 0 file(s)" in again.output
    assert "nothing to retrain" in again.output
