"""On AWS the scheduled monitor writes the model's report to the artifacts bucket (encrypted
with the environment's key), and `mlops report` fetches it with the caller's credentials."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
from typer.testing import CliRunner

from mlops_template.core.records import PredictionRecord
from mlops_template.core.report import report_key
from mlops_template.core.settings import get_settings
from mlops_template.functions import monitor

from .conftest import MODEL, load_event


def test_the_monitor_writes_the_report_to_the_artifacts_bucket_and_the_cli_fetches_it(
    production_v1, aws, aws_backend, typed_frame, schema, context, tmp_path, monkeypatch
):
    drifted = typed_frame.head(60).copy()
    drifted["mean_radius"] = drifted["mean_radius"] * 1.6
    now = datetime.now(UTC)
    aws_backend.predictions.record(
        [
            PredictionRecord(
                prediction_id=f"p{i}",
                model=MODEL,
                version=production_v1.version,
                stage="production",
                features=row,
                label="benign",
                probability=0.9,
                at=(now - timedelta(minutes=i)).isoformat(),
            )
            for i, row in enumerate(drifted[schema.feature_names].to_dict(orient="records"))
        ]
    )
    for i, truth in enumerate(drifted["diagnosis"]):
        aws_backend.predictions.add_feedback(f"p{i}", truth, model=MODEL)

    result = monitor.handler(load_event("eventbridge_schedule.json"), context)

    key = report_key(MODEL)
    assert result["report"] == key
    stored = boto3.client("s3").get_object(Bucket=aws.artifact_bucket, Key=key)
    assert stored["ContentType"].startswith("text/html")
    assert stored["ServerSideEncryption"] == "aws:kms"
    page = stored["Body"].read()
    assert b'<section id="drift">' in page and b'data-feature="mean_radius" data-rank="1"' in page
    assert b'<section id="quality">' in page and b"<svg" in page

    # The CLI, with the caller's credentials (here moto's), fetches what the monitor wrote.
    from mlops_template.tooling.cli import app

    monkeypatch.setenv("MLOPS_MODEL_NAME", MODEL)
    get_settings.cache_clear()
    runner = CliRunner()
    fetched = runner.invoke(app, ["report", "--out", str(tmp_path / "out")], catch_exceptions=False)
    assert fetched.exit_code == 0, fetched.output
    assert "fetched from s3://" in fetched.output
    assert (tmp_path / "out" / f"{MODEL}-report.html").read_bytes() == page

    # --fresh builds it now from the registry and the captures instead.
    fresh = runner.invoke(
        app,
        ["report", "--fresh", "--out", str(tmp_path / "fresh"), "--repo", str(tmp_path)],
        catch_exceptions=False,
    )
    assert fresh.exit_code == 0, fresh.output
    assert "report written to" in fresh.output
    built = (tmp_path / "fresh" / f"{MODEL}-report.html").read_text()
    assert 'data-feature="mean_radius" data-rank="1"' in built
    get_settings.cache_clear()
