"""Erasure on AWS (moto): the rows leave the S3 data and the DynamoDB captures, and the retrain
is a real Step Functions execution of the pipeline on the cleaned file."""

from __future__ import annotations

import io

import boto3
import pandas as pd

from mlops_template.core.forget import forget
from mlops_template.core.pipeline import PipelineSteps
from mlops_template.core.records import PredictionRecord
from mlops_template.infra.aws.stepfunctions import StepFunctionsPipelineStarter
from mlops_template.training.datasets import to_csv_bytes

from .test_pipeline_on_step_functions import MODEL, deployed, wait_for_executions  # noqa: F401


def test_forget_cleans_s3_and_dynamodb_and_retrains_on_step_functions(deployed, frame):  # noqa: F811
    data = frame.head(200).copy()
    data.insert(0, "account", [f"A{i % 40:02d}" for i in range(len(data))])  # 5 rows each
    backend = deployed.backend
    backend.data.put("incoming/day1.csv", to_csv_bytes(data))
    first = deployed.run(MODEL, "incoming/day1.csv", run_id="run-1")
    assert first.status in ("registered", "rejected"), first.error
    steps = PipelineSteps(backend)
    old = steps.latest_dataset(MODEL)
    backend.predictions.record(
        [
            PredictionRecord(
                prediction_id=f"p{i}",
                model=MODEL,
                version=1,
                stage="production",
                features={"account": account},
                label="benign",
                probability=0.9,
            )
            for i, account in enumerate(["A07", "A08", "A07"])
        ]
    )

    result = forget(
        backend,
        MODEL,
        "account",
        ["A07"],
        starter=StepFunctionsPipelineStarter(deployed.state_machine_arn),
        actor="test",
    )

    assert (result.rows_removed, result.captures_removed) == (5, 2)
    assert not backend.data.exists(old.key)
    new = steps.latest_dataset(MODEL)
    cleaned = pd.read_csv(io.BytesIO(backend.data.get(new.key)))
    assert len(cleaned) == 195 and "A07" not in set(cleaned["account"])
    assert [p.prediction_id for p in backend.predictions.recent(MODEL)] == ["p1"]
    executions = wait_for_executions(deployed.state_machine_arn, 2, timeout=300)
    (retrain,) = [e for e in executions if e["name"] != "run-1"]
    assert retrain["status"] == "SUCCEEDED" and retrain["name"].startswith(f"{MODEL}-forget-")
    history = boto3.client("stepfunctions").describe_execution(executionArn=retrain["executionArn"])
    assert new.key in history["input"]
    run = backend.registry.get_run(MODEL, retrain["name"])
    assert run.data_sha256 == new.sha256
