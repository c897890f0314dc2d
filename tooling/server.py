"""`mlops serve`: the API under uvicorn, with limits that a slow or hostile client cannot
outlast. (On Lambda, API Gateway and Lambda set these limits.)

- request headers must arrive within the read timeout of connecting, or of the previous
  response on a kept-alive connection (uvicorn has no such deadline: a client sending its
  headers a byte at a time held its connection for as long as it liked); the connection is
  then closed;
- the body must arrive within the read timeout too: the app answers 408 (see
  `mlops_template.core.serving.bodies.read_json_request`), on any ASGI server;
- request line and headers at most MAX_HEADER_BYTES (h11 answers 431 beyond);
- an idle kept-alive connection is closed after KEEP_ALIVE_SECONDS;
- at most MLOPS_MAX_CONNECTIONS connections at once: a request beyond them is answered 503
  at once instead of queueing without bound.
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

KEEP_ALIVE_SECONDS = 5
MAX_HEADER_BYTES = 16 * 1024


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach an address (a name other than localhost may not)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HeaderDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose next request's headers have not all
    arrived `header_timeout` seconds after it opened or after its previous response."""

    header_timeout: float = 10.0
    _header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
        super().connection_lost(exc)

    def _arm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
        self._header_deadline = self.loop.call_later(self.header_timeout, self._header_late)

    def _header_late(self) -> None:
        # A request whose headers arrived is in progress (its body has the app's deadline):
        # a new one would have re-armed the deadline when it completed.
        idle = self.cycle is None or self.cycle.response_complete
        if idle and not self.transport.is_closing():
            self.conn.send(h11.ConnectionClosed())
            self.transport.close()


def server_config(
    app: Any, *, host: str, port: int, read_timeout: float, max_connections: int
) -> uvicorn.Config:
    protocol = type("HeaderDeadline", (HeaderDeadlineProtocol,), {"header_timeout": read_timeout})
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="info",
        http=protocol,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        limit_concurrency=max_connections,
    )
