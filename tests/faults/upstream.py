"""A real fault-injecting HTTP/1.1 upstream on 127.0.0.1, switchable between faults at runtime.

It runs its own asyncio loop in a background thread (so the code under test talks to it over a
real socket, with keep-alive), speaks just enough HTTP for httpx, and counts every request it
parses *before* applying the fault — the count is what a real backend would have received.

Replies in ``Ok`` mode echo the inputs in the shape of the protocol the path implies: KServe v2
(``/v2/models/<m>/infer``), MLflow (``/invocations``), OpenAI chat (``/v1/chat/completions``,
SSE when ``"stream": true``) or generic JSON (anything else).
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import struct
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BreakStream",
    "Fault",
    "FaultyUpstream",
    "Flaky",
    "Hang",
    "Latency",
    "Malformed",
    "Ok",
    "Reset",
    "SlowBody",
    "Status",
]


@dataclass(frozen=True)
class Ok:
    pass


@dataclass(frozen=True)
class Latency:
    ms: int


@dataclass(frozen=True)
class Hang:
    pass


@dataclass(frozen=True)
class Reset:
    pass


@dataclass(frozen=True)
class Status:
    code: int
    retry_after: str | None = None


@dataclass(frozen=True)
class SlowBody:
    chunk_delay_ms: int
    chunks: int = 10


@dataclass(frozen=True)
class Malformed:
    pass


@dataclass(frozen=True)
class BreakStream:
    """Send the first SSE event of a stream, then reset the connection."""


@dataclass(frozen=True)
class EndlessStream:
    """Send an SSE event every ``interval_ms`` until the caller hangs up."""

    interval_ms: int


@dataclass(frozen=True)
class Flaky:
    """Fail ``rate`` of requests at random (seeded, so runs repeat) with ``failure``."""

    rate: float
    seed: int = 0
    failure: Fault = field(default_factory=lambda: Status(503))


Fault = (
    Ok
    | Latency
    | Hang
    | Reset
    | Status
    | SlowBody
    | Malformed
    | BreakStream
    | EndlessStream
    | Flaky
)

_REASONS = {200: "OK", 429: "Too Many Requests", 500: "Internal Server Error"}


def _ok_body(path: str, body: Any) -> Any:
    if path.startswith("/v2/models/"):
        return {
            "model_name": path.split("/")[3],
            "outputs": [{**tensor, "name": f"out-{tensor['name']}"} for tensor in body["inputs"]],
        }
    if path == "/invocations":
        frame = body.get("dataframe_split")
        return {"predictions": frame["data"] if frame else body["inputs"]}
    if path == "/v1/chat/completions":
        return {
            "id": "chatcmpl-1",
            "model": body.get("model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}],
        }
    return {"outputs": body.get("inputs")}


class FaultyUpstream:
    """Start with ``with FaultyUpstream() as upstream:``; switch with ``upstream.fault = ...``."""

    def __init__(self) -> None:
        self.fault: Fault = Ok()
        self.last_headers: dict[str, str] = {}
        self._lock = threading.Lock()
        self._paths: Counter[str] = Counter()
        self._rng = random.Random(0)
        self._rng_for: Flaky | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="faulty-upstream", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def received(self) -> int:
        with self._lock:
            return sum(self._paths.values())

    @property
    def open_connections(self) -> int:
        """Connections a caller holds open now (the server ends them only at stop)."""
        return len(self._writers)

    def received_on(self, path: str) -> int:
        with self._lock:
            return self._paths[path]

    def reset_counts(self) -> None:
        with self._lock:
            self._paths.clear()

    def __enter__(self) -> FaultyUpstream:
        self._thread.start()
        if not self._ready.wait(timeout=10):
            raise RuntimeError("fault upstream did not start within 10 s")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)

    def _serve(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._connection, "127.0.0.1", 0, backlog=1024)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()
            server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            # End every connection (even one sleeping in a Latency fault) before the loop goes.
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.wait(self._tasks, timeout=5)

    def _decide(self) -> Fault:
        fault = self.fault
        if isinstance(fault, Flaky):
            with self._lock:
                if self._rng_for is not fault:
                    self._rng, self._rng_for = random.Random(fault.seed), fault
                failed = self._rng.random() < fault.rate
            return fault.failure if failed else Ok()
        return fault

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            for _ in range(100_000):  # keep-alive: one connection serves many requests
                if not await self._one_request(reader, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            # Only stop() cancels connections; ending quietly keeps asyncio from logging it.
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    async def _one_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        _method, path, _version = lines[0].split(" ", 2)
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines[1:] if line)
        }
        raw = await reader.readexactly(int(headers.get("content-length", "0")))
        with self._lock:
            self._paths[path] += 1
            self.last_headers = headers
        fault = self._decide()
        assert self._stop is not None
        if isinstance(fault, Hang):
            await self._stop.wait()
            return False
        if isinstance(fault, Reset):
            _reset(writer)
            return False
        if isinstance(fault, Latency):
            await asyncio.sleep(fault.ms / 1000)
        if isinstance(fault, Status):
            extra = {"retry-after": fault.retry_after} if fault.retry_after else {}
            await _send(writer, fault.code, b'{"error": "injected"}', extra)
            return True
        if isinstance(fault, Malformed):
            await _send(writer, 200, b'{"outputs": [1, 2', {})
            return True
        body = json.loads(raw or b"{}")
        if path == "/v1/chat/completions" and body.get("stream"):
            if isinstance(fault, EndlessStream):
                await _send_endless_sse(writer, fault.interval_ms)
                return False
            await _send_sse(writer, broken=isinstance(fault, BreakStream))
            return not isinstance(fault, BreakStream)
        payload = json.dumps(_ok_body(path, body)).encode()
        if isinstance(fault, SlowBody):
            await _send_slowly(writer, payload, fault)
            return True
        await _send(writer, 200, payload, {})
        return True


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _send(
    writer: asyncio.StreamWriter, status: int, body: bytes, headers: dict[str, str]
) -> None:
    head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
    head += ["content-type: application/json", f"content-length: {len(body)}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    await writer.drain()


async def _send_slowly(writer: asyncio.StreamWriter, payload: bytes, fault: SlowBody) -> None:
    head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(payload)}"
    writer.write((head + "\r\n\r\n").encode())
    step = max(1, len(payload) // fault.chunks)
    for start in range(0, len(payload), step):
        await asyncio.sleep(fault.chunk_delay_ms / 1000)
        writer.write(payload[start : start + step])
        await writer.drain()


SSE_EVENTS = [  # an answer split as models stream it: an e-mail address over three events
    b'data: {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "he"}}]}\n\n',
    b'data: {"choices": [{"index": 0, "delta": {"content": "llo, mail jane"}}]}\n\n',
    b'data: {"choices": [{"index": 0, "delta": {"content": ".doe@exa"}}]}\n\n',
    b'data: {"choices": [{"index": 0, "delta": {"content": "mple.com"}}]}\n\n',
    b"data: [DONE]\n\n",
]


async def _send_sse(writer: asyncio.StreamWriter, *, broken: bool) -> None:
    writer.write(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    for index, event in enumerate(SSE_EVENTS):
        writer.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
        await writer.drain()
        if broken and index == 0:
            _reset(writer)
            return
    writer.write(b"0\r\n\r\n")
    await writer.drain()


async def _send_endless_sse(writer: asyncio.StreamWriter, interval_ms: int) -> None:
    writer.write(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    event = SSE_EVENTS[0]
    while not writer.is_closing():
        writer.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
        await writer.drain()  # raises ConnectionError once the caller has hung up
        await asyncio.sleep(interval_ms / 1000)
