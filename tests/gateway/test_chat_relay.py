"""A relayed chat stream frees its upstream and logs once, however it ends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import orjson
import pytest
from starlette.types import Message

from mlgate.gateway.backends.base import UpstreamStream
from mlgate.gateway.chat import Relay, assembled, deadline_event
from mlgate.gateway.frontdoor import STREAM_END_GRACE_S, _Call
from mlgate.gateway.resilience import Deadline, StreamInterrupted

pytestmark = pytest.mark.anyio


class Upstream:
    """An upstream stream whose closing and bulkhead slot the test can see."""

    def __init__(self, chunks: list[bytes], *, break_after: int | None = None) -> None:
        self.closed = 0
        self.slot_released = 0
        self.ended: list[tuple[str, bytes | None]] = []

        async def rest() -> AsyncIterator[bytes]:
            for index, chunk in enumerate(chunks[1:], start=1):
                if break_after is not None and index > break_after:
                    raise StreamInterrupted("upstream broke")
                yield chunk

        async def close() -> None:
            self.closed += 1

        self.stream = UpstreamStream(chunks[0], rest(), close)
        self.stream.add_close_callback(self._release)

    def _release(self) -> None:
        self.slot_released += 1

    def done(self, outcome: str, captured: bytes | None) -> None:
        self.ended.append((outcome, captured))


def relay_of(upstream: Upstream, *, capture: bool) -> Relay:
    return Relay(upstream.stream, capture=capture, done=upstream.done, deadline=Deadline.after(60))


async def test_a_complete_stream_is_passed_on_captured_and_logged_as_ok() -> None:
    upstream = Upstream([b"a", b"b", b"c"])
    relay = relay_of(upstream, capture=True)
    assert [chunk async for chunk in relay] == [b"a", b"b", b"c"]
    assert upstream.ended == [("ok", b"abc")]
    assert (upstream.closed, upstream.slot_released) == (1, 1)


async def test_a_broken_upstream_ends_as_interrupted() -> None:
    upstream = Upstream([b"a", b"b", b"c"], break_after=1)
    relay = relay_of(upstream, capture=False)
    with pytest.raises(StreamInterrupted):
        _ = [chunk async for chunk in relay]
    assert upstream.ended == [("interrupted", None)]
    assert upstream.slot_released == 1


async def test_a_caller_gone_mid_stream_ends_as_client_closed() -> None:
    upstream = Upstream([b"a", b"b", b"c"])
    relay = relay_of(upstream, capture=True)
    async for _ in relay:
        break  # the caller went away after the first chunk
    await relay.aclose()
    assert upstream.ended == [("client_closed", b"a")]
    assert upstream.slot_released == 1


async def test_a_stream_never_iterated_is_still_closed_and_logged_once() -> None:
    upstream = Upstream([b"a", b"b"])
    relay = relay_of(upstream, capture=True)
    await relay.aclose()
    await relay.aclose()
    assert upstream.ended == [("client_closed", None)]
    assert (upstream.closed, upstream.slot_released) == (1, 1)


def test_a_streamed_answer_is_logged_as_one_message_per_choice() -> None:
    events = (
        b'data: {"choices": [{"index": 1, "delta": {"content": "b"}}]}\n\n'
        b'data: {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "x@ex"}}]}\n\n'
        b'data: {"choices": [{"index": 0, "delta": {"content": "ample.com"},'
        b' "finish_reason": "stop"}]}\n\ndata: [DONE]\n\n'
    )
    assert assembled(events) == {
        "streamed": True,
        "choices": [
            {"role": "assistant", "content": "x@example.com", "finish_reason": "stop"},
            {"content": "b"},
        ],
    }
    assert assembled(b"data: not json\n\n") == "data: not json\n\n"  # kept, and redacted, as is


async def test_a_stream_cut_at_its_deadline_is_logged_as_deadline_exceeded() -> None:
    upstream = Upstream([b"a", b"b", b"c"])
    relay = relay_of(upstream, capture=True)
    async for _ in relay:
        relay.expire()  # the server's timer cut the stream at its deadline
        break
    await relay.aclose()
    assert upstream.ended == [("deadline_exceeded", b"a")]
    assert upstream.slot_released == 1


def test_the_deadline_event_is_an_openai_style_error() -> None:
    event = deadline_event("assistant", 800)
    assert event.startswith(b"data: ")
    assert event.endswith(b"\n\n")
    error = orjson.loads(event[len(b"data: ") :])["error"]
    assert error["code"] == "stream_deadline_exceeded"
    assert "800 ms" in error["message"]


class Endless:
    """An upstream stream that sends one chunk, then nothing until it is closed."""

    def __init__(self) -> None:
        self.closed = 0
        self.ended: list[str] = []

        async def rest() -> AsyncIterator[bytes]:
            await asyncio.Event().wait()  # never set: only closing ends it
            yield b"never"

        async def close() -> None:
            self.closed += 1

        self.stream = UpstreamStream(b"data: first\n\n", rest(), close)

    def relay(self, seconds: float) -> Relay:
        loop = asyncio.get_running_loop()
        return Relay(
            self.stream,
            capture=False,
            done=lambda outcome, _: self.ended.append(outcome),
            deadline=Deadline.after(seconds, clock=loop.time),
            ending=b"data: cut\n\n",
        )


def _call(send: Callable[[Message], Awaitable[None]]) -> _Call:
    async def receive() -> Message:
        await asyncio.Event().wait()  # the caller never hangs up
        return {"type": "http.disconnect"}

    return _Call({"path": "/v1/chat/completions", "headers": []}, receive, send, "rid")


@pytest.mark.parametrize("blocked_at", [0, 1], ids=["start", "first chunk"])
async def test_a_caller_that_stops_reading_does_not_hold_the_upstream_past_the_deadline(
    blocked_at: int,
) -> None:
    upstream = Endless()
    sent: list[Message] = []

    async def send(message: Message) -> None:
        if len(sent) == blocked_at:
            await asyncio.Event().wait()  # the caller's socket is full: writing waits forever
        sent.append(message)

    started = time.monotonic()
    async with asyncio.timeout(10):  # the test's bound, far past what the deadline allows
        await _call(send).answer_stream(upstream.relay(0.2), {})
    assert time.monotonic() - started < 0.2 + STREAM_END_GRACE_S + 2
    assert upstream.closed == 1
    assert upstream.ended == ["deadline_exceeded"]


async def test_a_stream_cut_before_it_began_still_ends_with_the_deadline_event() -> None:
    upstream = Endless()
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await _call(send).answer_stream(upstream.relay(0), {})
    assert sent[0]["type"] == "http.response.start"
    assert [m.get("body") for m in sent[1:]][-2:] == [b"data: cut\n\n", b""]
    assert upstream.closed == 1
    assert upstream.ended == ["deadline_exceeded"]


async def test_a_stream_that_ended_as_its_deadline_came_gets_nothing_after_its_last_byte() -> None:
    upstream = Upstream([b"a", b"b"])
    relay = Relay(
        upstream.stream,
        capture=False,
        done=upstream.done,
        deadline=Deadline.after(0, clock=asyncio.get_running_loop().time),  # due at once
        ending=b"data: cut\n\n",
    )
    sent: list[Message] = []

    async def send(message: Message) -> None:  # a caller that reads at once: the stream ends
        sent.append(message)  # before the deadline's timer runs, in the same loop turn

    await _call(send).answer_stream(relay, {})
    assert [m.get("body") for m in sent[1:]] == [b"a", b"b", b""]
    assert upstream.ended == [("ok", None)]
