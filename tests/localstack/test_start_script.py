"""localstack/start-without-docker.sh as a user runs it: it finds a Python 3.13 that really runs,
and the LocalStack it starts stops on SIGTERM, children included."""

from __future__ import annotations

import os
import subprocess

import pytest

from .conftest import LocalStack, python313, script_env


@pytest.fixture(scope="module")
def real_python313() -> str:
    python, reason = python313()
    if python is None:
        pytest.skip(f"LocalStack without Docker needs Python 3.13: {reason}")
    return python


def test_a_python313_on_path_that_does_not_run_is_passed_over(real_python313, tmp_path):
    # What an inactive pyenv shim does: it is on PATH, and it fails.
    shims = tmp_path / "shims"
    shims.mkdir()
    shim = shims / "python3.13"
    shim.write_text("#!/bin/sh\necho 'pyenv: python3.13: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    env = script_env(PATH=f"{shims}{os.pathsep}{os.environ['PATH']}")
    env.pop("PYTHON313", None)
    env["LOCALSTACK_STATE_DIR"] = str(tmp_path / "state")  # no venv yet: it must search
    python, reason = python313(env)
    assert python is not None, reason
    assert python != str(shim)
    version = subprocess.run(
        [python, "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert version.stdout.strip() == "(3, 13)"


def test_a_wrong_python313_setting_is_refused_with_the_reason(tmp_path):
    env = script_env(PYTHON313="/bin/sh", LOCALSTACK_STATE_DIR=str(tmp_path / "state"))
    python, reason = python313(env)
    assert python is None
    assert "PYTHON313=/bin/sh does not run as Python 3.13" in reason


def test_localstack_stops_on_sigterm_with_its_children(real_python313, tmp_path, client, figure):
    # `client` makes the session's LocalStack first: it installs the venv this one reuses.
    localstack = LocalStack(tmp_path)
    try:
        localstack.wait_healthy()
    except BaseException:
        localstack.stop()
        raise
    seconds = localstack.stop()  # raises unless the script and all it started are gone
    figure("LocalStack SIGTERM", f"its process group gone {seconds:.1f}s after SIGTERM")
    assert seconds < 12  # the script allows LocalStack 8 s, then kills it
    assert localstack.process.returncode is not None
