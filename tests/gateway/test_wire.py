"""Http1Client against real scripted servers on 127.0.0.1: framing, pooling and failures."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import struct
import time
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import pytest

from mlgate.gateway.backends import HttpBackend, InferenceRequest, OpenAIChat
from mlgate.gateway.backends.wire import (
    MAX_HEAD,
    ConnectionClosed,
    Http1Client,
    Origin,
    ResponseInvalid,
    request_head,
)
from mlgate.gateway.resilience import ProtocolFailure

pytestmark = pytest.mark.anyio

LIMIT = 5.0  # seconds any one test may take; every wait below is bounded by it
PATH = "/v2/models/iris/infer"


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes

    def values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name.lower()]


class Peer:
    """One connection the server accepted, as a handler script drives it."""

    def __init__(
        self,
        index: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        requests: list[Request],
    ) -> None:
        self.index = index
        self.reader = reader
        self.writer = writer
        self._requests = requests

    async def read_request(self) -> Request | None:
        """The next request on this connection, or None once the client has closed it."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ")
        headers = []
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers.append((name.strip().lower(), value.strip()))
        length = sum(int(value) for key, value in headers if key == "content-length")
        request = Request(method, target, headers, await self.reader.readexactly(length))
        self._requests.append(request)
        return request

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def client_closed(self) -> None:
        """Wait until the client closes the connection (whatever it sent meanwhile is dropped)."""
        while await self.reader.read(65536):
            pass

    def reset(self) -> None:
        """Abort the connection with a TCP RST instead of a FIN."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()


Handler = Callable[[Peer], Awaitable[None]]


class ScriptedServer:
    """A raw asyncio server on 127.0.0.1 that runs ``handler`` on each connection it accepts."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.connections = 0
        self.requests: list[Request] = []
        self.errors: list[BaseException] = []
        self.port = 0

    @property
    def origin(self) -> Origin:
        return Origin("http", "127.0.0.1", self.port)

    def head(self, headers: dict[str, str] | None = None) -> bytes:
        return request_head(self.origin, PATH, headers or {})

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        assert not self.errors, self.errors

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = Peer(self.connections, reader, writer, self.requests)
        self.connections += 1
        task = asyncio.create_task(self._run(peer))
        self._tasks.add(task)

    async def _run(self, peer: Peer) -> None:
        try:
            await self._handler(peer)
        except ConnectionError:
            pass  # the client closed or reset the connection: expected in many scripts
        except Exception as exc:
            self.errors.append(exc)
        finally:
            peer.writer.close()
            with contextlib.suppress(ConnectionError):
                await peer.writer.wait_closed()


def answer(
    body: bytes = b"ok", *, status: str = "200 OK", headers: Sequence[tuple[str, str]] = ()
) -> bytes:
    """A complete answer framed by Content-Length."""
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
LAST_CHUNK = b"0\r\n\r\n"


def answering(respond: Callable[[Request], bytes]) -> Handler:
    """A handler that keeps the connection alive and answers each request with ``respond``."""

    async def handler(peer: Peer) -> None:
        while (request := await peer.read_request()) is not None:
            await peer.send(respond(request))

    return handler


def echo(request: Request) -> bytes:
    return answer(b"answer to " + request.body)


@dataclass
class Signals:
    """Events a script and its test hand each other; never sleeps."""

    seen: asyncio.Event = field(default_factory=asyncio.Event)
    go: asyncio.Event = field(default_factory=asyncio.Event)
    more: asyncio.Event = field(default_factory=asyncio.Event)
    closed: asyncio.Event = field(default_factory=asyncio.Event)


async def expire_when(event: asyncio.Event, call: Awaitable[object]) -> None:
    """Await ``call`` under an ``asyncio.timeout`` that expires as soon as ``event`` is set."""
    async with asyncio.timeout(None) as deadline:

        async def expire() -> None:
            await event.wait()
            deadline.reschedule(asyncio.get_running_loop().time())

        expirer = asyncio.create_task(expire())
        try:
            await call
        finally:
            expirer.cancel()
            await asyncio.gather(expirer, return_exceptions=True)


# -- round trips and pooling -----------------------------------------------------------------


async def test_post_round_trip_sends_request_and_returns_status_headers_and_body() -> None:
    respond = answer(b'{"outputs": [1]}', status="201 Created", headers=[("X-Model", "iris")])
    async with ScriptedServer(answering(lambda _: respond)) as server, Http1Client() as client:
        async with asyncio.timeout(LIMIT):
            head = server.head({"Content-Type": "application/json", "X-Api-Key": "s3cret"})
            got = await client.post(server.origin, head, b'{"inputs": [[1.0]]}')

    (request,) = server.requests
    assert request.method == "POST"
    assert request.target == PATH
    assert request.values("host") == [f"127.0.0.1:{server.port}"]
    assert request.values("content-length") == [str(len(b'{"inputs": [[1.0]]}'))]
    assert request.values("content-type") == ["application/json"]
    assert request.values("x-api-key") == ["s3cret"]
    assert request.body == b'{"inputs": [[1.0]]}'
    assert got.status == 201
    assert got.header(b"x-model") == "iris"
    assert got.header(b"content-length") == str(len(b'{"outputs": [1]}'))
    assert got.header(b"x-absent") is None
    assert got.body == b'{"outputs": [1]}'


async def test_sequential_calls_reuse_one_connection() -> None:
    async with ScriptedServer(answering(echo)) as server, Http1Client() as client:
        async with asyncio.timeout(LIMIT):
            bodies = [
                (await client.post(server.origin, server.head(), b"%d" % i)).body for i in range(3)
            ]
    assert bodies == [b"answer to 0", b"answer to 1", b"answer to 2"]
    assert server.connections == 1


async def test_empty_body_is_sent_with_content_length_zero() -> None:
    async with ScriptedServer(answering(echo)) as server, Http1Client() as client:
        async with asyncio.timeout(LIMIT):
            got = await client.post(server.origin, server.head(), b"")
    assert got.body == b"answer to "
    assert server.requests[0].values("content-length") == ["0"]


async def test_chunked_answer_is_reassembled_and_connection_reused() -> None:
    respond = CHUNKED_HEAD + chunk(b'{"out') + chunk(b'puts": ') + chunk(b"[1]}") + LAST_CHUNK
    async with ScriptedServer(answering(lambda _: respond)) as server, Http1Client() as client:
        async with asyncio.timeout(LIMIT):
            first = await client.post(server.origin, server.head(), b"a")
            second = await client.post(server.origin, server.head(), b"b")
    assert first.body == second.body == b'{"outputs": [1]}'
    assert server.connections == 1


async def test_answer_without_length_is_read_until_close_and_connection_not_reused() -> None:
    async def handler(peer: Peer) -> None:
        request = await peer.read_request()
        assert request is not None
        if peer.index == 0:
            await peer.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")
            return  # the server closes: that ends the body
        await peer.send(echo(request))

    async with ScriptedServer(handler) as server, Http1Client() as client:
        async with asyncio.timeout(LIMIT):
            first = await client.post(server.origin, server.head(), b"a")
            second = await client.post(server.origin, server.head(), b"b")
    assert first.status == 200
    assert first.body == b"until the end"
    assert second.body == b"answer to b"
    assert server.connections == 2


async def test_connection_close_from_server_makes_next_call_open_a_new_connection() -> None:
    signals = Signals()

    async def handler(peer: Peer) -> None:
        request = await peer.read_request()
        assert request is not None
        await peer.send(answer(b"bye", headers=[("Connection", "close")]))
        await peer.client_closed()  # the server does not close: the client must
        signals.closed.set()

    async with ScriptedServer(handler) as server, Http1Client() as client:
        async with asyncio.timeout(LIMIT):
            first = await client.post(server.origin, server.head(), b"a")
            await signals.closed.wait()
            second = await client.post(server.origin, server.head(), b"b")
    assert first.body == second.body == b"bye"
    assert server.connections == 2


async def test_answer_over_max_body_fails_and_its_connection_is_not_reused() -> None:
    signals = Signals()

    async def handler(peer: Peer) -> None:
        request = await peer.read_request()
        assert request is not None
        if peer.index == 0:
            await peer.send(answer(b"x" * 11))
            await peer.client_closed()
            signals.closed.set()
            return
        await peer.send(answer(b"x" * 10))

    async with ScriptedServer(handler) as server, Http1Client(max_body=10) as client:
        async with asyncio.timeout(LIMIT):
            with pytest.raises(ResponseInvalid, match="over 10 bytes"):
                await client.post(server.origin, server.head(), b"a")
            await signals.closed.wait()
            got = await client.post(server.origin, server.head(), b"b")
    assert got.body == b"x" * 10  # exactly the limit is allowed
    assert server.connections == 2


async def test_chunked_answer_over_max_body_fails() -> None:
    respond = CHUNKED_HEAD + chunk(b"x" * 6) + chunk(b"x" * 6) + LAST_CHUNK
    async with (
        ScriptedServer(answering(lambda _: respond)) as server,
        Http1Client(max_body=10) as client,
        asyncio.timeout(LIMIT),
    ):
        with pytest.raises(ResponseInvalid):
            await client.post(server.origin, server.head(), b"a")


async def test_a_head_over_its_limit_fails_the_call_before_the_server_finishes_it() -> None:
    signals = Signals()
    pad = b"X-Pad: " + b"a" * 1000 + b"\r\n"

    async def handler(peer: Peer) -> None:
        await peer.read_request()
        try:
            await peer.send(b"HTTP/1.1 200 OK\r\n")
            for _ in range(10 * MAX_HEAD // len(pad)):  # ten times the limit, and no end
                await peer.send(pad)
            await peer.client_closed()
        finally:
            signals.closed.set()

    async with ScriptedServer(handler) as server, Http1Client() as client:
        async with asyncio.timeout(LIMIT):
            with pytest.raises(ResponseInvalid, match="head is over"):
                await client.post(server.origin, server.head(), b"a")
            await signals.closed.wait()
    assert server.requests


# -- content encodings -----------------------------------------------------------------------


async def test_gzip_answer_is_decompressed() -> None:
    plain = b'{"outputs": [' + b"1, " * 1000 + b"1]}"
    respond = answer(gzip.compress(plain), headers=[("Content-Encoding", "gzip")])
    async with ScriptedServer(answering(lambda _: respond)) as server, Http1Client() as client:
        async with asyncio.timeout(LIMIT):
            got = await client.post(server.origin, server.head(), b"a")
    assert got.body == plain


async def test_deflate_answer_is_decompressed() -> None:
    plain = b'{"outputs": [1, 2, 3]}'
    respond = answer(zlib.compress(plain), headers=[("Content-Encoding", "deflate")])
    async with ScriptedServer(answering(lambda _: respond)) as server, Http1Client() as client:
        async with asyncio.timeout(LIMIT):
            got = await client.post(server.origin, server.head(), b"a")
    assert got.body == plain


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"this is not gzip at all", id="not-gzip"),
        pytest.param(gzip.compress(b'{"outputs": [1, 2, 3]}')[:-6], id="truncated"),
        pytest.param(gzip.compress(b'{"outputs": [1]}')[:-8] + b"\0" * 8, id="bad-checksum"),
    ],
)
async def test_corrupt_gzip_body_raises_response_invalid(body: bytes) -> None:
    respond = answer(body, headers=[("Content-Encoding", "gzip")])
    async with ScriptedServer(answering(lambda _: respond)) as server, Http1Client() as client:
        async with asyncio.timeout(LIMIT):
            with pytest.raises(ResponseInvalid, match="corrupt"):
                await client.post(server.origin, server.head(), b"a")


async def test_gzip_answer_expanding_over_max_body_fails() -> None:
    respond = answer(gzip.compress(b"0" * 10_000), headers=[("Content-Encoding", "gzip")])
    async with (
        ScriptedServer(answering(lambda _: respond)) as server,
        Http1Client(max_body=1_000) as client,
        asyncio.timeout(LIMIT),
    ):
        with pytest.raises(ResponseInvalid, match="over 1000 bytes"):
            await client.post(server.origin, server.head(), b"a")


# -- broken servers --------------------------------------------------------------------------


async def test_bytes_that_are_not_http_raise_response_invalid() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await peer.client_closed()

    async with ScriptedServer(handler) as server, Http1Client() as client:
        async with asyncio.timeout(LIMIT):
            with pytest.raises(ResponseInvalid, match="not valid HTTP"):
                await client.post(server.origin, server.head(), b"a")


async def test_unrequested_protocol_switch_raises_response_invalid() -> None:
    switch = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    )

    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(switch)
        await peer.client_closed()

    async with ScriptedServer(handler) as server, Http1Client() as client:
        async with asyncio.timeout(LIMIT):
            with pytest.raises(ResponseInvalid):
                await client.post(server.origin, server.head(), b"a")


@pytest.mark.parametrize(
    ("sent", "how"),
    [
        pytest.param(b"", "close", id="closed-before-answer"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Le", "close", id="closed-in-headers"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial", "close", id="closed-in-body"
        ),
        pytest.param(CHUNKED_HEAD + chunk(b"partial"), "close", id="closed-in-chunked-body"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial", "reset", id="reset-in-body"
        ),
    ],
)
async def test_server_closing_or_resetting_mid_answer_raises_connection_closed(
    sent: bytes, how: str
) -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(sent)
        if how == "reset":
            peer.reset()

    async with ScriptedServer(handler) as server, Http1Client() as client:
        async with asyncio.timeout(LIMIT):
            with pytest.raises(ConnectionClosed) as caught:
                await client.post(server.origin, server.head(), b"a")
    assert isinstance(caught.value, OSError)  # callers classify it as a connection failure


def answering_first_late(signals: Signals) -> Handler:
    """A server that echoes each request, but answers "first" only once ``signals.go`` is set."""

    async def handler(peer: Peer) -> None:
        try:
            while (request := await peer.read_request()) is not None:
                if request.body == b"first":
                    signals.seen.set()
                    await signals.go.wait()  # answer only after the caller gave up
                await peer.send(echo(request))
        finally:
            if peer.index == 0:
                signals.closed.set()  # EOF or reset: the client closed this connection

    return handler


async def test_timed_out_call_closes_its_connection_so_its_late_answer_is_never_read() -> None:
    signals = Signals()
    async with ScriptedServer(answering_first_late(signals)) as server, Http1Client() as client:
        async with asyncio.timeout(LIMIT):
            with pytest.raises(TimeoutError):
                await expire_when(signals.seen, client.post(server.origin, server.head(), b"first"))
            signals.go.set()  # the late answer to "first" is now on its way
            got = await client.post(server.origin, server.head(), b"second")
            await signals.closed.wait()
    assert got.body == b"answer to second"
    assert server.connections == 2


async def test_a_post_timeout_fails_the_call_and_closes_its_kept_alive_connection() -> None:
    signals = Signals()
    async with ScriptedServer(answering_first_late(signals)) as server, Http1Client() as client:
        async with asyncio.timeout(LIMIT):
            warm = await client.post(server.origin, server.head(), b"warm", timeout=LIMIT)
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await client.post(server.origin, server.head(), b"first", timeout=0.2)
            waited = time.monotonic() - started
            signals.go.set()  # the late answer to "first" is now on its way
            got = await client.post(server.origin, server.head(), b"second", timeout=LIMIT)
            await signals.closed.wait()
    assert 0.18 <= waited < LIMIT
    assert warm.body == b"answer to warm"
    assert got.body == b"answer to second"
    assert server.connections == 2  # "first" went on the kept-alive one, which was closed


# -- idle connections ------------------------------------------------------------------------


async def test_idle_connection_closed_by_server_is_not_reused() -> None:
    signals = Signals()

    async def handler(peer: Peer) -> None:
        request = await peer.read_request()
        assert request is not None
        await peer.send(echo(request))
        if peer.index == 0:
            peer.writer.write_eof()  # a keep-alive answer, then the server closes while idle
            await peer.client_closed()
            signals.closed.set()

    async with ScriptedServer(handler) as server, Http1Client() as client:
        async with asyncio.timeout(LIMIT):
            await client.post(server.origin, server.head(), b"a")
            await signals.closed.wait()
            got = await client.post(server.origin, server.head(), b"b")
    assert got.body == b"answer to b"
    assert server.connections == 2


async def test_idle_connection_older_than_keepalive_expiry_is_closed_not_reused() -> None:
    signals = Signals()

    async def handler(peer: Peer) -> None:
        await answering(echo)(peer)
        if peer.index == 0:
            signals.closed.set()  # the client closed the expired connection itself

    async with (
        ScriptedServer(handler) as server,
        Http1Client(keepalive_expiry=0.0) as client,
        asyncio.timeout(LIMIT),
    ):
        await client.post(server.origin, server.head(), b"a")
        got = await client.post(server.origin, server.head(), b"b")
        await signals.closed.wait()
    assert got.body == b"answer to b"
    assert server.connections == 2


async def test_bytes_sent_on_an_idle_connection_close_it() -> None:
    signals = Signals()

    async def handler(peer: Peer) -> None:
        request = await peer.read_request()
        assert request is not None
        await peer.send(echo(request))
        if peer.index == 0:  # then, once the client is idle, the start of an unasked answer
            await signals.go.wait()
            await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")
            await peer.client_closed()
            signals.closed.set()
            return
        await answering(echo)(peer)

    async with ScriptedServer(handler) as server, Http1Client() as client:
        async with asyncio.timeout(LIMIT):
            await client.post(server.origin, server.head(), b"a")
            signals.go.set()
            await signals.closed.wait()
            got = await client.post(server.origin, server.head(), b"b")
    assert got.body == b"answer to b"
    assert server.connections == 2


async def test_second_answer_in_the_same_read_is_not_mixed_into_the_first() -> None:
    signals = Signals()

    async def handler(peer: Peer) -> None:
        request = await peer.read_request()
        assert request is not None
        if peer.index == 0:  # one write: the answer, then an answer nobody asked for
            await peer.send(echo(request) + answer(b"bogus", status="500 Oops"))
            await peer.client_closed()
            signals.closed.set()
            return
        await peer.send(echo(request))

    async with ScriptedServer(handler) as server, Http1Client() as client:
        async with asyncio.timeout(LIMIT):
            first = await client.post(server.origin, server.head(), b"a")
            await signals.closed.wait()
            second = await client.post(server.origin, server.head(), b"b")
    assert (first.status, first.body) == (200, b"answer to a")
    assert first.header(b"content-length") == str(len(b"answer to a"))
    assert len(first.headers) == 1
    assert second.body == b"answer to b"
    assert server.connections == 2


async def test_closed_client_refuses_calls() -> None:
    async with ScriptedServer(answering(echo)) as server, asyncio.timeout(LIMIT):
        client = Http1Client()
        await client.close()
        with pytest.raises(ConnectionClosed):
            await client.post(server.origin, server.head(), b"a")
    assert server.connections == 0


# -- interim answers -------------------------------------------------------------------------


async def test_interim_100_continue_is_skipped() -> None:
    interim = b"HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n"
    async with (
        ScriptedServer(answering(lambda r: interim + echo(r))) as server,
        Http1Client() as client,
        asyncio.timeout(LIMIT),
    ):
        first = await client.post(server.origin, server.head(), b"a")
        second = await client.post(server.origin, server.head(), b"b")
    assert (first.status, first.body) == (200, b"answer to a")
    assert first.header(b"x-interim") is None
    assert second.body == b"answer to b"
    assert server.connections == 1


async def test_interim_100_continue_is_skipped_when_streaming() -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\n"
    respond = interim + CHUNKED_HEAD + chunk(b"data") + LAST_CHUNK
    async with (
        ScriptedServer(answering(lambda _: respond)) as server,
        Http1Client() as client,
        asyncio.timeout(LIMIT),
    ):
        stream = await client.open_stream(server.origin, server.head(), b"a")
        assert stream.status == 200
        assert await stream.read() == b"data"
        await stream.aclose()


# -- streaming -------------------------------------------------------------------------------


async def test_open_stream_returns_after_headers_and_chunks_arrive_as_sent() -> None:
    signals = Signals()

    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        await signals.go.wait()
        await peer.send(chunk(b"data: first\n\n"))
        await signals.more.wait()
        await peer.send(chunk(b"data: second\n\n") + LAST_CHUNK)
        await answering(echo)(peer)

    async with ScriptedServer(handler) as server, Http1Client() as client:
        async with asyncio.timeout(LIMIT):
            stream = await client.open_stream(server.origin, server.head(), b"a")
            assert stream.status == 200  # no body byte was sent yet
            assert stream.header(b"content-type") == "text/event-stream"
            signals.go.set()
            pieces = []
            async for piece in stream.chunks():
                pieces.append(piece)
                signals.more.set()  # the second piece is sent only after the first arrived
            await stream.aclose()
    assert pieces == [b"data: first\n\n", b"data: second\n\n"]


async def test_complete_stream_returns_its_connection_to_the_pool_on_aclose() -> None:
    respond = CHUNKED_HEAD + chunk(b"one") + chunk(b"two") + LAST_CHUNK

    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(respond)
        await answering(echo)(peer)

    async with ScriptedServer(handler) as server, Http1Client() as client:
        async with asyncio.timeout(LIMIT):
            stream = await client.open_stream(server.origin, server.head(), b"a")
            assert await stream.read() == b"onetwo"
            await stream.aclose()
            got = await client.post(server.origin, server.head(), b"b")
    assert got.body == b"answer to b"
    assert server.connections == 1


async def test_stream_closed_before_its_end_closes_its_connection() -> None:
    signals = Signals()

    async def handler(peer: Peer) -> None:
        request = await peer.read_request()
        assert request is not None
        if peer.index == 0:
            await peer.send(CHUNKED_HEAD + chunk(b"one"))
            await peer.client_closed()
            signals.closed.set()
            return
        await peer.send(echo(request))
        await answering(echo)(peer)

    async with ScriptedServer(handler) as server, Http1Client() as client:
        async with asyncio.timeout(LIMIT):
            stream = await client.open_stream(server.origin, server.head(), b"a")
            await stream.aclose()
            await signals.closed.wait()
            got = await client.post(server.origin, server.head(), b"b")
    assert got.body == b"answer to b"
    assert server.connections == 2


async def test_stream_broken_mid_body_raises_connection_closed() -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(CHUNKED_HEAD + chunk(b"one"))
        peer.reset()

    async with ScriptedServer(handler) as server, Http1Client() as client:
        async with asyncio.timeout(LIMIT):
            stream = await client.open_stream(server.origin, server.head(), b"a")
            with pytest.raises(ConnectionClosed):
                await stream.read()
            await stream.aclose()


async def test_stream_over_max_body_raises_response_invalid() -> None:
    respond = CHUNKED_HEAD + chunk(b"x" * 8) + chunk(b"x" * 8) + LAST_CHUNK
    async with (
        ScriptedServer(answering(lambda _: respond)) as server,
        Http1Client(max_body=10) as client,
        asyncio.timeout(LIMIT),
    ):
        stream = await client.open_stream(server.origin, server.head(), b"a")
        with pytest.raises(ResponseInvalid, match="over 10 bytes"):
            await stream.read()
        await stream.aclose()


# -- request heads and origins ---------------------------------------------------------------

ORIGIN = Origin("http", "models.local", 8080)


def test_request_head_is_a_post_with_host_and_headers_up_to_content_length() -> None:
    head = request_head(ORIGIN, "/predict?v=2", {"Authorization": "Bearer t", "X-Trace": "1"})
    assert head == (
        b"POST /predict?v=2 HTTP/1.1\r\nHost: models.local:8080\r\n"
        b"Authorization: Bearer t\r\nX-Trace: 1\r\n"
    )


@pytest.mark.parametrize("bad", ["\r", "\n", "\0", "\r\n"])
@pytest.mark.parametrize("where", ["name", "value"])
def test_request_head_refuses_cr_lf_nul_in_header_names_and_values(bad: str, where: str) -> None:
    headers = {f"X-{bad}Injected": "v"} if where == "name" else {"X-Token": f"a{bad}Evil: 1"}
    with pytest.raises(ValueError, match="forbidden character"):
        request_head(ORIGIN, "/predict", headers)


def test_request_head_refuses_colon_in_header_name() -> None:
    with pytest.raises(ValueError, match="forbidden character"):
        request_head(ORIGIN, "/predict", {"X-A:B": "v"})
    with pytest.raises(ValueError, match="forbidden character"):
        request_head(ORIGIN, "/predict", {"Host:": "elsewhere"})


def test_request_head_allows_colon_in_header_value() -> None:
    head = request_head(ORIGIN, "/", {"X-Url": "http://a:1/b"})
    assert head.endswith(b"X-Url: http://a:1/b\r\n")


@pytest.mark.parametrize(
    "url",
    [
        "ftp://models.local/x",
        "file:///etc/passwd",
        "ws://models.local/",
        "http:///no-host",
        "models.local:8080/x",
        "/predict",
    ],
)
def test_origin_of_refuses_urls_that_are_not_http_or_https(url: str) -> None:
    with pytest.raises(ValueError, match="not an http"):
        Origin.of(url)


@pytest.mark.parametrize(
    ("url", "origin", "path"),
    [
        ("http://models.local/predict", Origin("http", "models.local", 80), "/predict"),
        ("https://models.local", Origin("https", "models.local", 443), "/"),
        (
            "http://models.local:8080/v1/x?a=1&b=2",
            Origin("http", "models.local", 8080),
            "/v1/x?a=1&b=2",
        ),
        ("HTTPS://Models.Local:8443/p", Origin("https", "models.local", 8443), "/p"),
    ],
)
def test_origin_of_gives_default_ports_and_path_with_query(
    url: str, origin: Origin, path: str
) -> None:
    assert Origin.of(url) == (origin, path)


async def test_trailers_of_a_chunked_answer_do_not_join_its_headers() -> None:
    respond = CHUNKED_HEAD + chunk(b"body") + b"0\r\nX-Trailer: late\r\n\r\n"
    async with ScriptedServer(answering(lambda _: respond)) as server, Http1Client() as client:
        async with asyncio.timeout(LIMIT):
            stream = await client.open_stream(server.origin, server.head(), b"a")
            headers_at_start = list(stream.headers)
            assert await stream.read() == b"body"
            await stream.aclose()
    assert stream.header(b"x-trailer") is None
    assert stream.headers == headers_at_start


async def test_a_finished_stream_read_again_is_empty_instead_of_waiting() -> None:
    respond = CHUNKED_HEAD + chunk(b"once") + LAST_CHUNK
    async with ScriptedServer(answering(lambda _: respond)) as server, Http1Client() as client:
        async with asyncio.timeout(LIMIT):
            stream = await client.open_stream(server.origin, server.head(), b"a")
            assert await stream.read() == b"once"
            assert await stream.read() == b""
            await stream.aclose()
            await stream.aclose()  # twice is harmless: the connection is pooled once
            first, second = await asyncio.gather(  # at once: pooled twice, both would share it
                client.post(server.origin, server.head(), b"b"),
                client.post(server.origin, server.head(), b"c"),
            )
    assert (first.body, second.body) == (b"once", b"once")
    assert server.connections == 2


async def test_a_backend_refuses_a_compressed_stream_before_its_first_byte() -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n"
    respond = head + chunk(gzip.compress(b"data: {}\n\n")) + LAST_CHUNK
    async with ScriptedServer(answering(lambda _: respond)) as server, Http1Client() as client:
        backend = HttpBackend(
            "llm", client=client, base_url=f"http://127.0.0.1:{server.port}", adapter=OpenAIChat()
        )
        async with asyncio.timeout(LIMIT):
            with pytest.raises(ProtocolFailure, match="compressed"):
                await backend.stream(InferenceRequest({"messages": []}), timeout=LIMIT)
