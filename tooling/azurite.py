"""Azurite, Azure Storage's emulator: the npm package (pure Node, no Docker), installed once
into the tool cache, started on free ports of 127.0.0.1 with a scratch --location, stopped with
SIGTERM. `mlops demo --azure-emulated` and the tests (tests/conftest.py) start it this way.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path


def tool_cache(name: str) -> Path:
    """The folder the tests keep slow-to-fetch tools in (XDG_CACHE_HOME, else ~/.cache)."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = root / "serverless-mlops-template" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


VERSION = "3.37.0"
ACCOUNT = "devstoreaccount1"
# Azurite's well-known development account key (public, documented by Microsoft).
KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"  # pragma: allowlist secret
    "K1SZFPTOtr/KBHBeksoGMGw=="  # pragma: allowlist secret
)


def missing_tools() -> str:
    """Why Azurite cannot run here ("" when it can)."""
    absent = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if absent:
        return (
            f"Azurite needs {' and '.join(absent)} on PATH (Node.js: e.g. apt-get install nodejs "
            "npm); it is then installed with npm on first use"
        )
    return ""


def install() -> tuple[Path, bool]:
    """The azurite executable in the tool cache, and whether this call installed it."""
    root = tool_cache(f"azurite-{VERSION}")
    binary = root / "node_modules" / ".bin" / "azurite"
    if binary.exists():
        return binary, False
    subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [  # noqa: S607 - npm from PATH, as a user runs it
            "npm",
            "install",
            "--prefix",
            str(root),
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            f"azurite@{VERSION}",
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return binary, True


class Azurite:
    """One Azurite in a process group of its own."""

    def __init__(self, binary: Path, location: Path) -> None:
        ports: set[int] = set()
        while len(ports) < 3:  # three distinct ports
            ports.add(free_port())
        self.ports = dict(zip(("blob", "queue", "table"), sorted(ports), strict=True))
        self.log = location / "azurite.log"
        args = [
            str(binary),
            "--silent",
            "--location",
            str(location),
            "--skipApiVersionCheck",
            "--disableTelemetry",
        ]
        for service, port in self.ports.items():
            args += [f"--{service}Host", "127.0.0.1", f"--{service}Port", str(port)]
        self.started = time.monotonic()
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our installed Azurite, no shell
                args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    @property
    def connection_string(self) -> str:
        base = "http://127.0.0.1"
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
            f"BlobEndpoint={base}:{self.ports['blob']}/{ACCOUNT};"
            f"QueueEndpoint={base}:{self.ports['queue']}/{ACCOUNT};"
            f"TableEndpoint={base}:{self.ports['table']}/{ACCOUNT};"
        )

    def _listening(self) -> bool:
        for port in self.ports.values():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            except OSError:
                return False
        return True

    def wait_ready(self, timeout: float = 60) -> float:
        """Seconds from start until every service accepts connections."""
        deadline = self.started + timeout
        while not self._listening():
            if self.process.poll() is not None:
                raise RuntimeError(f"Azurite exited ({self.process.returncode}):\n{self.tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"Azurite not ready in {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.1)
        return time.monotonic() - self.started

    def stop(self, grace: float = 5) -> None:
        """SIGTERM to its group; SIGKILL what is left after `grace` seconds."""
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])
