"""OpenAI-compatible chat completions through a route: plain JSON or SSE passed through.

A stream may fall back to another target only before its first byte reaches the client;
after that, a broken upstream ends the client's stream (it cannot be replayed elsewhere).
Its first byte must come within the route's ``deadline_ms``; the whole stream ends by its
``stream_deadline_ms``, counted from when the call starts, when the caller gets an error event
in the stream (the OpenAI clients raise it) and the upstream call is closed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from mlgate.errors import Invalid, Unavailable
from mlgate.gateway.backends.base import InferenceRequest, UpstreamStream
from mlgate.gateway.call import (
    AllTargetsFailed,
    Target,
    TargetRefused,
    call_with_resilience,
    stream_with_resilience,
)
from mlgate.gateway.dataplane import PAYLOAD_MODES, Caller, Gateway, served_by
from mlgate.gateway.resilience import Deadline, RetryPolicy
from mlgate.gateway.resilience.failures import StreamInterrupted
from mlgate.gateway.table import CompiledRoute

__all__ = ["MAX_CAPTURED", "ChatAnswer", "Relay", "chat_completion", "deadline_event"]

MAX_CAPTURED = 1024 * 1024  # bytes of a streamed answer kept for a payload log


def assembled(captured: bytes) -> Any:
    """A streamed answer as one message per choice, for the request log.

    The SSE events split text anywhere (an e-mail address over three events): redaction must
    see each choice's content whole. Events that are not chat-completion chunks leave the raw
    text, which is redacted as it is.
    """
    text = captured.decode("utf-8", "replace")
    choices: dict[int, dict[str, Any]] = {}
    try:
        for line in text.splitlines():
            data = line.removeprefix("data:").strip() if line.startswith("data:") else ""
            if not data or data == "[DONE]":
                continue
            for choice in orjson.loads(data).get("choices") or ():
                merged = choices.setdefault(int(choice.get("index", 0)), {"content": ""})
                delta = choice.get("delta") or {}
                merged["content"] += delta.get("content") or ""
                if delta.get("role"):
                    merged["role"] = delta["role"]
                if choice.get("finish_reason"):
                    merged["finish_reason"] = choice["finish_reason"]
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
        return text
    if not choices:
        return text
    return {"streamed": True, "choices": [choices[i] for i in sorted(choices)]}


def deadline_event(route: str, stream_deadline_ms: int) -> bytes:
    """The last event of a stream cut at its deadline, shaped as OpenAI's streamed errors."""
    message = f"route '{route}': the stream passed its deadline of {stream_deadline_ms} ms"
    error = {"message": message, "type": "timeout", "code": "stream_deadline_exceeded"}
    return b"data: " + orjson.dumps({"error": error}) + b"\n\n"


@dataclass(frozen=True, slots=True)
class ChatAnswer:
    body: dict[str, Any] | Relay
    headers: dict[str, str]


class Relay:
    """Passes an upstream's stream on and closes it (freeing its bulkhead slot) however it ends.

    ``done(outcome, captured)`` runs once at the end: ``ok``, ``interrupted`` (the upstream
    broke), ``deadline_exceeded`` (cut at ``deadline``, on the event loop's clock) or
    ``client_closed``; ``captured`` holds the first ``MAX_CAPTURED`` bytes when ``capture`` is
    set (routes whose log mode keeps payloads), else None. ``aclose()`` ends it even if it was
    never iterated, when a generator's ``finally`` would not run. The server relaying it keeps
    the deadline (it alone can also bound a caller that stops reading): it calls ``expire()``,
    stops relaying and sends ``ending``.
    """

    def __init__(
        self,
        stream: UpstreamStream,
        *,
        capture: bool,
        done: Callable[[str, bytes | None], None],
        deadline: Deadline,
        ending: bytes = b"",
    ) -> None:
        self._stream, self._capture, self._done = stream, capture, done
        self.deadline, self.ending = deadline, ending
        self.expired = False
        self._iterator = self._run()
        self._started = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        self._started = True
        return self._iterator

    def expire(self) -> None:
        """The server cut the stream at ``deadline``: it ends as ``deadline_exceeded``."""
        self.expired = True

    async def aclose(self) -> None:
        if self._started:
            await self._iterator.aclose()
            return
        self._started = True
        await self._stream.aclose()
        self._done("deadline_exceeded" if self.expired else "client_closed", None)

    async def _run(self) -> AsyncGenerator[bytes, None]:
        kept: list[bytes] = []
        size = 0
        outcome = "ok"
        try:
            async for chunk in self._stream:
                if self._capture and size < MAX_CAPTURED:
                    kept.append(chunk[: MAX_CAPTURED - size])
                    size += len(kept[-1])
                yield chunk
        except StreamInterrupted:
            outcome = "interrupted"
            raise
        except (asyncio.CancelledError, GeneratorExit):
            outcome = "deadline_exceeded" if self.expired else "client_closed"
            raise
        finally:
            await self._stream.aclose()
            self._done(outcome, b"".join(kept) if self._capture else None)


async def chat_completion(
    gateway: Gateway, route: CompiledRoute, caller: Caller, payload: dict[str, Any]
) -> ChatAnswer:
    started = time.perf_counter()
    candidates = [
        t
        for t in gateway.ordered_targets(route, caller)
        if t.upstream is not None and t.upstream.protocol == "openai"
    ]
    if not candidates:  # the caller's mistake: no retry or fallback will change it
        raise Invalid.field(
            "model",
            f"route '{route.name}' serves no OpenAI-compatible upstream; "
            f"call POST /v1/routes/{route.name}/predict instead",
        )
    live = gateway.live(candidates)
    if not live:  # its upstreams could not be loaded: ours to fix
        raise Unavailable(f"route '{route.name}' has no OpenAI-compatible target", retry_after=5)
    targets = [Target(t.name, backend) for t, backend in live]
    request = InferenceRequest(inputs={k: v for k, v in payload.items() if k != "model"})
    r = route.resilience
    # On the loop's clock: the server's timer cuts the stream then.
    stream_deadline = Deadline.after(
        r.stream_deadline_ms / 1000, clock=asyncio.get_running_loop().time
    )
    options = {
        "deadline": Deadline.after(r.deadline_ms / 1000),
        "policy": RetryPolicy(
            max_attempts=r.max_attempts, attempt_timeout=r.attempt_timeout_ms / 1000
        ),
        "budget": gateway.budget(route),
        "breakers": gateway.breakers,
        "bulkheads": gateway.bulkheads,
    }
    try:
        if payload.get("stream"):
            streamed = await stream_with_resilience(targets, request, **options)  # type: ignore[arg-type]
            served = next(t for t, _ in live if t.name == streamed.target)

            def done(outcome: str, captured: bytes | None) -> None:
                # Logged when the stream ends, as the route's mode says (redacted, full).
                payload = (request.inputs, assembled(captured)) if captured is not None else None
                attempts = len(streamed.attempts)
                gateway.finish(
                    route, served, outcome, 200, started, attempts, caller, payload=payload
                )

            relay = Relay(
                streamed.value,
                capture=route.log_mode in PAYLOAD_MODES,
                done=done,
                deadline=stream_deadline,
                ending=deadline_event(route.name, r.stream_deadline_ms),
            )
            return ChatAnswer(body=relay, headers=served_by(served, degraded="false"))
        answered = await call_with_resilience(targets, request, **options)  # type: ignore[arg-type]
    except AllTargetsFailed as failure:
        gateway.finish(route, None, "unavailable", 503, started, len(failure.attempts), caller)
        raise Unavailable(
            f"route '{route.name}': every chat target failed", retry_after=failure.retry_after
        ) from None
    except TargetRefused as refused:  # before any byte of a stream reached the client
        raise gateway.refusal(
            route, live, refused, started, caller, field="body", sent="request"
        ) from None
    served = next(t for t, _ in live if t.name == answered.target)
    body = answered.value.outputs
    gateway.finish(
        route,
        served,
        "ok",
        200,
        started,
        len(answered.attempts),
        caller,
        payload=(request.inputs, body),  # logged as the route's mode says (redacted, full)
    )
    return ChatAnswer(
        body=body if isinstance(body, dict) else {"choices": body},
        headers=served_by(served, degraded="false"),
    )
