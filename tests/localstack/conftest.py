"""LocalStack for this folder: the one at MLOPS_LOCALSTACK_URL if set, else one started here
without Docker by localstack/start-without-docker.sh and stopped with SIGTERM when the session
ends. Its venv lives in the tool cache, so only the first run installs it (about a minute or
two). Where no Python 3.13 exists, the tests are skipped with the script's reason."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import boto3
import pytest

from tests.conftest import FIGURES, free_port, tool_cache

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "localstack" / "start-without-docker.sh"
SERVICES = ("cloudwatch", "sns", "sqs")
NO_PYTHON313 = 3  # the script's exit code when it finds no Python 3.13


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_localstack/health", timeout=2) as response:
            services = json.load(response).get("services", {})
    except (OSError, ValueError):
        return False
    return all(services.get(s) in ("available", "running") for s in SERVICES)


def script_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # ours is not LocalStack's
    return {**env, "LOCALSTACK_STATE_DIR": str(tool_cache("localstack")), **extra}


def python313(env: dict[str, str] | None = None) -> tuple[str | None, str]:
    """(the interpreter the script would use, "") or (None, the script's reason)."""
    found = subprocess.run(
        [str(SCRIPT), "--python"],
        env=env or script_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if found.returncode == NO_PYTHON313:
        return None, found.stderr.strip()
    assert found.returncode == 0, found.stderr
    return found.stdout.strip(), ""


class LocalStack:
    """One LocalStack started by the script, in a process group of its own."""

    def __init__(self, scratch: Path) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log = scratch / "localstack.log"
        self.installs = not (tool_cache("localstack") / "venv" / "installed.txt").exists()
        env = script_env(
            LOCALSTACK_FILESYSTEM_ROOT=str(scratch / "root"), GATEWAY_LISTEN=f"127.0.0.1:{port}"
        )
        self.started = time.monotonic()
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [str(SCRIPT)], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait_healthy(self, timeout: float = 900) -> float:
        """Seconds from start to healthy (the first start installs the venv)."""
        deadline = self.started + timeout
        while not healthy(self.url):
            if self.process.poll() is not None:
                raise RuntimeError(f"LocalStack exited ({self.process.returncode}):\n{self.tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"LocalStack not healthy in {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.25)
        return time.monotonic() - self.started

    def group_alive(self) -> bool:
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def stop(self, timeout: float = 15) -> float:
        """SIGTERM, as a service manager would send it; seconds until the script and everything
        it started are gone. Whatever is left after `timeout` is killed, and that is an error."""
        start = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        deadline = start + timeout
        while time.monotonic() < deadline:
            self.process.poll()
            if not self.group_alive():
                return time.monotonic() - start
            time.sleep(0.1)
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        raise AssertionError(f"LocalStack still running {timeout:.0f} s after SIGTERM")

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])


@pytest.fixture(scope="session")
def localstack_url(tmp_path_factory):
    if url := os.environ.get("MLOPS_LOCALSTACK_URL"):
        assert healthy(url), f"MLOPS_LOCALSTACK_URL={url}: no healthy LocalStack answers there"
        yield url
        return
    python, reason = python313()
    if python is None:
        pytest.skip(f"LocalStack without Docker needs Python 3.13: {reason}")
    localstack = LocalStack(tmp_path_factory.mktemp("localstack"))
    try:
        seconds = localstack.wait_healthy()
        FIGURES["LocalStack start"] = f"healthy in {seconds:.1f}s" + (
            " (its venv installed in this run)" if localstack.installs else ""
        )
        yield localstack.url
    finally:
        FIGURES["LocalStack stop"] = f"gone {localstack.stop():.1f}s after SIGTERM"


@pytest.fixture(scope="session")
def client(localstack_url):
    """client("sns") -> a boto3 client of that LocalStack."""

    def make(service: str):
        return boto3.client(
            service,
            endpoint_url=localstack_url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",  # pragma: allowlist secret
        )

    return make
