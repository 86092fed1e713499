"""`mlgate serve`'s transport: writes of one event-loop turn leave as one send, in order."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
import pytest

from mlgate.server import _CoalescedWrites
from tests.integration.conftest import start_server

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class _Sink(asyncio.Protocol):
    pass


class _Counting:
    """A real socket transport that counts the sends asked of it."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        self.transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


async def _pair() -> tuple[_Counting, socket.socket]:
    ours, peer = socket.socketpair()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_accepted_socket(_Sink, ours)
    peer.settimeout(2)
    return _Counting(transport), peer  # type: ignore[arg-type]


def _received(peer: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = peer.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


async def test_writes_of_one_turn_leave_as_one_send_in_order() -> None:
    counting, peer = await _pair()
    writes = _CoalescedWrites(counting, asyncio.get_running_loop())  # type: ignore[arg-type]
    writes.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    writes.write(b"ok")
    assert counting.writes == []  # nothing has left within the turn
    assert writes.get_write_buffer_size() == len(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
    await asyncio.sleep(0)  # the end of this turn
    assert counting.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]
    writes.write(b"next")
    await asyncio.sleep(0)
    assert len(counting.writes) == 2
    assert _received(peer, 44) == b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\noknext"
    writes.close()
    peer.close()


async def test_close_sends_what_was_gathered_first_and_later_writes_are_dropped() -> None:
    counting, peer = await _pair()
    writes = _CoalescedWrites(counting, asyncio.get_running_loop())  # type: ignore[arg-type]
    writes.write(b"last ")
    writes.write(b"words")
    writes.close()
    assert writes.is_closing()
    writes.write(b"too late")
    await asyncio.sleep(0)
    assert counting.writes == [b"last words"]
    assert _received(peer, 100) == b"last words"  # then the end of the stream
    peer.close()


async def test_abort_drops_what_was_gathered() -> None:
    counting, peer = await _pair()
    writes = _CoalescedWrites(counting, asyncio.get_running_loop())  # type: ignore[arg-type]
    writes.write(b"never sent")
    writes.abort()
    await asyncio.sleep(0)
    assert counting.writes == []
    assert _received(peer, 100) == b""  # closed with nothing in it
    peer.close()


class _Paused(asyncio.Protocol):
    """Remembers the transport asking it to stop writing (its buffer passed the high mark)."""

    paused = False

    def pause_writing(self) -> None:
        self.paused = True


async def test_a_turn_that_gathers_much_sends_it_at_once_so_flow_control_can_pause() -> None:
    """An app streaming a body without yielding must not be held whole: what passes SEND_AT
    leaves within the turn, and a reader that does not keep up pauses the writer."""
    ours, peer = socket.socketpair()
    transport, paused = await asyncio.get_running_loop().connect_accepted_socket(_Paused, ours)
    counting = _Counting(transport)  # type: ignore[arg-type]
    writes = _CoalescedWrites(counting, asyncio.get_running_loop())  # type: ignore[arg-type]
    chunk = b"x" * (64 << 10)

    for _ in range(64):  # 4 MiB within one turn; the peer reads nothing
        writes.write(chunk)
        assert writes.get_write_buffer_size() - transport.get_write_buffer_size() < writes.SEND_AT

    assert sum(map(len, counting.writes)) >= 4 * 1024 * 1024 - writes.SEND_AT
    assert paused.paused
    writes.abort()
    peer.close()


def test_the_server_answers_keep_alive_requests_whole_through_it(runtime: Any) -> None:
    from mlgate.app import create_app

    live, thread = start_server(create_app(runtime=runtime))
    try:
        with httpx.Client(base_url=live.url) as client:
            answers = [client.get("/healthz") for _ in range(3)]  # one connection, kept alive
            missing = client.post("/v1/routes/nope/predict", json={"inputs": [[1]]})
        assert [a.status_code for a in answers] == [200, 200, 200]
        assert all(a.json()["status"] == "ok" for a in answers)
        assert all("server" not in a.headers for a in answers)  # the server software stays unsaid
        assert missing.status_code == 401
        assert missing.headers["content-type"].startswith("application/problem+json")
        assert int(missing.headers["content-length"]) == len(missing.content)
    finally:
        live.server.should_exit = True
        thread.join(timeout=10)
