"""Helpers for handler tests: real event files, a Lambda context, a trained model in S3."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlops_template.core.pipeline import LocalPipeline, PipelineSteps
from mlops_template.tooling.emulation import LambdaContext
from mlops_template.training.config import TrainingConfig
from mlops_template.training.datasets import TARGET

EVENTS = Path(__file__).resolve().parents[1] / "events"
MODEL = "breast-cancer"


def load_event(name: str, **replacements: str) -> dict[str, Any]:
    text = (EVENTS / name).read_text()
    for old, new in replacements.items():
        text = text.replace(old, new)
    return json.loads(text)


@pytest.fixture
def context() -> LambdaContext:
    return LambdaContext(function_name="test-function")


@pytest.fixture
def configured(aws_backend):
    PipelineSteps(aws_backend).save_config(TrainingConfig(model_name=MODEL, target=TARGET))
    return aws_backend


@pytest.fixture
def production_v1(configured, csv_bytes):
    """v1 trained on the sample data, registered and in production, all in moto."""
    configured.data.put("incoming/day1.csv", csv_bytes)
    result = LocalPipeline(configured).run(MODEL, "incoming/day1.csv", auto_promote="production")
    assert result.status == "registered", result.error
    return configured.registry.get(MODEL, result.version)
