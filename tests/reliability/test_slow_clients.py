"""Slow clients against `mlops serve` in its own process on 127.0.0.1: a body or headers
trickled a byte at a time, as many such connections as the server takes, and the warning
printed when the API (which has no authentication locally) listens beyond this machine."""

from __future__ import annotations

import select
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import repeat

import httpx2
import pytest

from .test_load import mlops_serve

READ_TIMEOUT = 2.0
MAX_CONNECTIONS = 8
# Time for the server to notice and close, on a shared 2-core machine.
MARGIN = 3.0

SLOW_BODY = (
    b"POST /predict HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n"
    b"content-length: 100000\r\n\r\n{"
)
SLOW_HEADERS = b"POST /predict HTTP/1.1\r\nhost: test\r\nx-slow: "


@pytest.fixture
def served(tmp_path):
    """No model: the deadlines hold before any model is involved."""
    with mlops_serve(
        tmp_path / "home",
        "--max-connections",
        str(MAX_CONNECTIONS),
        healthy=False,
        read_timeout_seconds=str(READ_TIMEOUT),
    ) as (url, _):
        yield url


def trickle(url: str, head: bytes, within: float) -> tuple[bytes, float]:
    """Send `head`, then one more byte every 0.1 s, until the server closes the connection;
    what it answered and after how many seconds. Fails if it is still open after `within`."""
    port = int(url.rsplit(":", 1)[1])
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head)
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < within:
            if select.select([sock], [], [], 0.1)[0]:
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:
                    chunk = b""
                if not chunk:
                    return received, elapsed
                received += chunk
                continue
            try:
                sock.send(b" ")
            except (BrokenPipeError, ConnectionResetError):
                return received, elapsed
    raise AssertionError(f"still open after {within} s, answered {received[:80]!r}")


def test_a_body_trickled_a_byte_at_a_time_gets_408_and_is_closed(served):
    answer, seconds = trickle(served, SLOW_BODY, READ_TIMEOUT + MARGIN)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"did not arrive within 2 s" in answer
    assert seconds >= READ_TIMEOUT - 0.5


def test_headers_trickled_a_byte_at_a_time_are_closed(served):
    answer, seconds = trickle(served, SLOW_HEADERS, READ_TIMEOUT + MARGIN)
    assert answer == b"" and seconds >= READ_TIMEOUT - 0.5


def test_slow_clients_hold_at_most_the_connection_limit_for_at_most_the_deadline(served):
    """500 slow sockets were held for 40 s: now a request beyond the limit is refused at once,
    and every slow one is closed by the deadline, after which the API answers again."""
    # Headers never complete, so each holds a connection (a slow body beyond the limit is
    # itself refused once its headers are in).
    heads = [SLOW_HEADERS] * MAX_CONNECTIONS
    with ThreadPoolExecutor(len(heads)) as pool:
        slow = pool.map(trickle, repeat(served), heads, repeat(READ_TIMEOUT + 2 * MARGIN))
        time.sleep(READ_TIMEOUT / 4)
        beyond = httpx2.get(f"{served}/health", timeout=5)
        closed = list(slow)
    assert beyond.status_code == 503 and beyond.text == "Service Unavailable"
    assert all(seconds < READ_TIMEOUT + 2 * MARGIN for _, seconds in closed)
    again = httpx2.get(f"{served}/health", timeout=5)
    assert again.json()["status"] == "unavailable"  # the app's answer: no model, but served


@pytest.mark.parametrize(("host", "warned"), [("0.0.0.0", True), ("127.0.0.1", False)])
def test_serving_beyond_this_machine_warns_that_there_is_no_auth(tmp_path, host, warned):
    with mlops_serve(tmp_path / "home", host=host, healthy=False) as (_, process):
        pass
    output = process.stderr.read().decode()
    assert ("the API has no authentication" in output) is warned, output
