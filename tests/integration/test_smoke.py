"""Smoke tests against a real HTTP server (`mlops serve`'s app under uvicorn on 127.0.0.1)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn
from typer.testing import CliRunner

from mlops_template.core.serving.app import create_app
from mlops_template.core.serving.router import ModelRouter
from mlops_template.core.settings import Settings
from mlops_template.core.smoke import example_records, smoke_test_from_api
from mlops_template.infra.local import local_backend
from mlops_template.tooling.api_client import HttpApiClient
from mlops_template.tooling.cli import app as cli
from tests.conftest import free_port

from .conftest import MODEL, register


@contextmanager
def serving(backend, refresh_seconds: float = 0) -> Iterator[str]:
    """The API on a free port, serving MODEL's production; yields its base URL."""
    router = ModelRouter(
        backend.registry, backend.artifacts, MODEL, "production", refresh_seconds=refresh_seconds
    )
    port = free_port()
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
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(5)


@pytest.fixture
def served(backend, trained):
    version = register(backend, trained)
    backend.registry.promote(MODEL, version.version, "production", actor="test")
    with serving(backend) as url:
        yield url, version


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
    wrong = CliRunner().invoke(
        cli, ["smoke", "--url", url, "--expect-version", "99", "--wait-seconds", "0"]
    )
    assert wrong.exit_code == 1 and "serves the promoted version" in wrong.output


# -- a release against an API that re-reads its stage every few seconds -----------------------


@pytest.fixture
def release_to(tmp_path, trained, monkeypatch):
    """`mlops release` of the source's v1 to a target environment whose API re-reads its stage
    every `refresh` seconds; returns (the CLI's result, the target backend)."""
    monkeypatch.delenv("MLOPS_HOME", raising=False)
    source = local_backend(Settings(home=tmp_path / "source"))
    target = local_backend(Settings(home=tmp_path / "target"))
    register(source, trained)
    signing = "dev"  # prod imports what dev signs: dev's export key is one prod trusts
    (tmp_path / "dev.env").write_text(
        f"MLOPS_HOME={tmp_path / 'source'}\nMLOPS_EXPORT_SIGNING_KEY={signing}\n"
    )
    (tmp_path / "prod.env").write_text(
        f"MLOPS_HOME={tmp_path / 'target'}\nMLOPS_ENVIRONMENT=prod\n"
        f"MLOPS_TRUSTED_EXPORT_KEYS={signing}\n"
    )

    def release(*, refresh: float, wait: float, served_before: bool = True):
        if served_before:
            register(target, trained)
            target.registry.promote(MODEL, 1, "production", actor="test")
        with serving(target, refresh_seconds=refresh) as url:
            HttpApiClient(url).get("/health")  # the API reads its stage now, then every `refresh`
            result = CliRunner().invoke(
                cli,
                [
                    "release",
                    "1",
                    "--from-env-file",
                    str(tmp_path / "dev.env"),
                    "--to-env-file",
                    str(tmp_path / "prod.env"),
                    "--url",
                    url,
                    "--model",
                    MODEL,
                    "--wait-seconds",
                    str(wait),
                ],
            )
        return result, target

    return release


def test_release_waits_for_the_api_to_serve_the_new_version(release_to):
    result, target = release_to(refresh=3, wait=30)
    text = " ".join(result.output.split())
    assert result.exit_code == 0, result.output
    assert "waits up to 30s" in text
    assert re.search(r"served v2 after [1-9][0-9.]*s", text), text
    assert "production promoted from v1 to v2, and the API serves it" in text
    assert target.registry.current(MODEL, "production").version == 2


def test_release_past_its_deadline_rolls_back_and_says_so(release_to):
    result, target = release_to(refresh=60, wait=1)
    text = " ".join(result.output.split())
    assert result.exit_code == 1
    assert "serves v1 after" in text and "(waited up to 1s), expected v2" in text
    assert "production rolled back to v1" in text
    assert target.registry.current(MODEL, "production").version == 1


def test_a_first_release_that_cannot_roll_back_says_where_the_stage_is_left(release_to):
    result, target = release_to(refresh=60, wait=0, served_before=False)
    text = " ".join(result.output.split())
    assert result.exit_code == 1
    assert "production left on v1, rollback refused" in text
    assert "serves no version after" in text and "vNone" not in text
    assert target.registry.current(MODEL, "production").version == 1


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
