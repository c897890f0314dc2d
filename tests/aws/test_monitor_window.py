"""The monitor reads every capture of its window from S3, as Firehose delivers them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import numpy as np

from mlops_template.core.captures import partition_of
from mlops_template.core.monitoring import CAPTURES_READ_METRIC, run_monitor

from .conftest import MODEL

END = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)  # the window [END - 24 h, END) spans two dates


def lines(
    rows: list[str], count: int, *, version: int, start: datetime, prefix: str, stage: str = ""
) -> bytes:
    """`count` JSON lines, one capture each, a second apart from `start`, their features taken
    in turn from `rows` (pre-serialised, so writing 200k stays quick)."""
    stage = stage or "production"
    out = []
    for i in range(count):
        at = (start + timedelta(seconds=i)).isoformat(timespec="milliseconds")
        out.append(
            f'{{"prediction_id":"{prefix}{i}","model":"{MODEL}","version":{version},'
            f'"stage":"{stage}","at":"{at}","features":{rows[i % len(rows)]},'
            f'"label":"benign","probability":0.9}}\n'
        )
    return "".join(out).encode()


def test_the_monitor_reads_all_200k_captures_of_its_window(
    production_v1, aws, aws_backend, typed_frame, schema
):
    s3 = boto3.client("s3")
    rows = [json.dumps(r) for r in typed_frame[schema.feature_names].to_dict(orient="records")]

    def put(start: datetime, count: int, prefix: str, *, version: int = 1, stage: str = "") -> None:
        """One large object, as Firehose writes a full buffer, under the capture's partition."""
        key = f"{partition_of(MODEL, version, start.isoformat())}{aws.capture_stream}-{prefix}"
        body = lines(rows, count, version=version, start=start, prefix=prefix, stage=stage)
        s3.put_object(Bucket=aws.data_bucket, Key=key, Body=body)

    day1, day2 = END - timedelta(hours=24), END - timedelta(hours=6)  # 11-21 06:00, 11-22 00:00
    # 200,000 in the window, in five objects over its two date partitions.
    put(day1, 50_000, "a")
    put(day1, 50_000, "b")
    put(day1, 56_800, "e")  # up to 21:46:40 on the first day
    put(day2, 21_600, "c")  # six hours: up to 05:59:59
    put(day2, 21_600, "d")
    # Read but not counted: just before and at the window's end (the same date partitions),
    # the shadow's answers. Not even read: another version's partition.
    put(day1 - timedelta(minutes=10), 600, "early")
    put(END, 500, "late")
    put(day2, 2_000, "shadow", stage="shadow")
    put(day2, 3_000, "v2", version=2)
    aws_backend.predictions.add_feedback("c7", "benign", model=MODEL)
    aws_backend.predictions.add_feedback("c8", "malignant", model=MODEL)

    result = run_monitor(aws_backend, MODEL, end=END)

    assert result.captured == 200_000
    assert result.drift.rows == 200_000
    assert result.objects == 8  # the other version's object is not read
    assert result.feedback_count == 2 and result.feedback_accuracy == 0.5
    assert result.window_start == (END - timedelta(hours=24)).isoformat()
    assert result.drift.enough_data and not result.drift.drift_detected
    points = boto3.client("cloudwatch").get_metric_statistics(
        Namespace=aws.metrics_namespace,
        MetricName=CAPTURES_READ_METRIC,
        Dimensions=[{"Name": "model", "Value": MODEL}, {"Name": "stage", "Value": "production"}],
        StartTime=datetime.now(UTC) - timedelta(minutes=5),
        EndTime=datetime.now(UTC) + timedelta(minutes=5),
        Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]
    assert [p["Maximum"] for p in points] == [200_000]
    assert np.isfinite(result.drift.max_psi)
