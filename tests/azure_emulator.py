"""Azurite for the tests: the npm package (pure Node, no Docker), installed once into the tool
cache, started on free ports of 127.0.0.1 with a scratch --location, stopped with SIGTERM when the
session ends. Without node/npm the Azure tests are skipped with that reason.

Under pytest-xdist each worker that runs Azure tests starts its own Azurite (a few seconds);
tests stay apart by unique container and table names, not by instances.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.conftest import free_port, tool_cache

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
    return f"Azurite needs {' and '.join(absent)} on PATH" if absent else ""


def install() -> tuple[Path, bool]:
    """The azurite executable in the tool cache, and whether this call installed it."""
    root = tool_cache(f"azurite-{VERSION}")
    binary = root / "node_modules" / ".bin" / "azurite"
    if binary.exists():
        return binary, False
    subprocess.run(
        [
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
            self.process = subprocess.Popen(
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
