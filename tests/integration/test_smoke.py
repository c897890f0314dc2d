"""Smoke tests against a real HTTP server (`mlops serve`'s app under uvicorn on 127.0.0.1)."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import uvicorn
from typer.testing import CliRunner

from functions.inference.app import create_app
from infra.cli import app as cli
from infra.serving import ModelRouter
from infra.smoke import HttpApiClient, example_records, smoke_test_from_api

from .test_api import MODEL, register


@pytest.fixture
def served(backend, trained):
    version = register(backend, trained)
    backend.registry.promote(MODEL, version.version, "production", actor="test")
    router = ModelRouter(
        backend.registry, backend.artifacts, MODEL, "production", refresh_seconds=0
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(router, predictions=backend.predictions),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", version
    server.should_exit = True
    thread.join(5)


def test_the_smoke_test_passes_against_a_served_model(served):
    url, version = served
    result = smoke_test_from_api(HttpApiClient(url), expect_version=version.version)
    assert result.passed, result.summary()
    assert {c.name for c in result.checks} >= {
        "health",
        "predict",
        "invalid record is refused with 422",
    }


def test_the_smoke_command_fails_on_the_wrong_version(served):
    url, version = served
    ok = CliRunner().invoke(cli, ["smoke", "--url", url, "--expect-version", str(version.version)])
    assert ok.exit_code == 0, ok.output
    wrong = CliRunner().invoke(cli, ["smoke", "--url", url, "--expect-version", "99"])
    assert wrong.exit_code == 1 and "serves the promoted version" in wrong.output


def test_example_records_satisfy_the_contract(schema):
    for record in example_records(schema):
        schema.record_model.model_validate(record)


def test_sigv4_signing_adds_an_aws_signature(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    client = HttpApiClient(
        "https://abc.execute-api.eu-west-1.amazonaws.com", sigv4=True, region="eu-west-1"
    )
    headers = client._signed(
        "POST",
        "https://abc.execute-api.eu-west-1.amazonaws.com/predict",
        b"{}",
        {"content-type": "application/json"},
    )
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in headers["Authorization"]
    assert "X-Amz-Date" in headers
