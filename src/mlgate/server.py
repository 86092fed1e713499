"""Runs the HTTP server for ``mlgate serve``: uvicorn, server logging, and the collector tuned.

Why garbage collection is tuned: everything alive once the server has started (libraries, the
app, the route table, loaded models and the libraries they imported) lives as long as the
server, and is moved out of the collector's sight then. Frozen before startup instead, as it
was, the objects of the libraries that models import at startup (scikit-learn, SciPy) stayed in
sight: on a busy gateway worker every full collection walked them, 100 ms each, about one per
9,000 requests, which held those requests up and cost 11 µs a request on average; frozen after,
a full collection takes about 1 ms (gc.callbacks, 18,000 requests at steady state). The
youngest generation is then collected after 50,000 more objects instead of 700: the objects of
64 requests in flight crossed 700 about every 32 requests, and those collections cost 4 µs a
request; at 50,000 none ran in 18,000 requests, and cyclic garbage still gets collected.
"""

from __future__ import annotations

import asyncio
import gc
import socket
from typing import Any

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mlgate.config import Settings
from mlgate.errors import Unavailable
from mlgate.serverlog import configure_server_logging

__all__ = ["bind", "run_server", "server_config"]

YOUNG_THRESHOLD = 50_000  # objects allocated (net) before the youngest generation is collected


def bind(host: str, port: int) -> socket.socket:
    """The listening address, taken before anything is printed: a busy port is one clear error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise Unavailable(
            f"cannot listen on {host}:{port} ({error.strerror}); is another server running "
            "there? Stop it or choose another --port"
        ) from None
    return sock


def run_server(app: ASGIApp, settings: Settings, sock: socket.socket | None = None) -> None:
    """Serve ``app`` on ``sock`` (or ``settings.host:port``) until stopped."""
    configure_server_logging(settings)
    config = server_config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,  # uvicorn's records go to the root handler, in the same format
        log_level=settings.log_level.lower(),
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )
    _FrozenAfterStartup(config).run(sockets=[sock] if sock is not None else None)


def server_config(app: ASGIApp, **options: Any) -> uvicorn.Config:
    """uvicorn's settings for mlgate (``options`` are uvicorn.Config's); tests serve with it too."""
    return uvicorn.Config(
        app,
        http=_CoalescingHttp,
        access_log=False,  # the gateway writes its own access lines (mlgate.access)
        server_header=False,  # no "server: uvicorn": do not tell callers what to attack
        **options,
    )


class _FrozenAfterStartup(uvicorn.Server):
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        gc.collect()
        gc.freeze()
        gc.set_threshold(YOUNG_THRESHOLD)


class _CoalescedWrites:
    """A connection's transport whose writes within one turn of the event loop leave as one.

    Everything else goes to the real transport; ``close`` and ``abort`` settle what is
    gathered first (sent, or dropped on abort), so no byte is reordered, lost or sent late.
    A turn that gathers ``SEND_AT`` bytes sends them at once: an app streaming a body without
    yielding would otherwise be held whole in memory, and the transport's flow control
    (``pause_writing``, which makes uvicorn's ``send`` wait) never see it.
    """

    __slots__ = ("_held", "_loop", "_pending", "_transport")

    SEND_AT = 256 << 10  # above any answer of the API or the gateway, which stay one send

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None
        self._held = 0

    def write(self, data: bytes) -> None:
        if self._pending is None:
            self._pending, self._held = [data], len(data)
            self._loop.call_soon(self._flush)
        else:
            self._pending.append(data)
            self._held += len(data)
        if self._held >= self.SEND_AT:
            self._flush()

    def _flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending and not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending = None
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        pending = self._held if self._pending else 0
        return int(self._transport.get_write_buffer_size()) + pending

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _CoalescingHttp(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing through :class:`_CoalescedWrites`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_CoalescedWrites(transport, self.loop))  # type: ignore[arg-type]
