"""OpenAI-compatible chat completions through a route: plain JSON or SSE passed through.

A stream may fall back to another target only before its first byte reaches the client;
after that, a broken upstream ends the client's stream (it cannot be replayed elsewhere).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from mlgate.errors import Unavailable
from mlgate.gateway.backends.base import InferenceRequest, UpstreamStream
from mlgate.gateway.call import (
    AllTargetsFailed,
    Target,
    call_with_resilience,
    stream_with_resilience,
)
from mlgate.gateway.dataplane import Caller, Gateway, served_by
from mlgate.gateway.resilience import Deadline, RetryPolicy
from mlgate.gateway.table import CompiledRoute

__all__ = ["ChatAnswer", "chat_completion"]


@dataclass(frozen=True, slots=True)
class ChatAnswer:
    body: dict[str, Any] | AsyncIterator[bytes]
    headers: dict[str, str]


async def _relay(stream: UpstreamStream) -> AsyncIterator[bytes]:
    """Pass the upstream's bytes on; close it (and free its bulkhead slot) however we stop."""
    try:
        async for chunk in stream:
            yield chunk
    finally:
        await stream.aclose()


async def chat_completion(
    gateway: Gateway, route: CompiledRoute, caller: Caller, payload: dict[str, Any]
) -> ChatAnswer:
    started = time.perf_counter()
    candidates = [
        t
        for t in gateway.ordered_targets(route, caller)
        if t.upstream is not None and t.upstream.protocol == "openai"
    ]
    live = gateway.live(candidates)
    if not live:
        raise Unavailable(f"route '{route.name}' has no OpenAI-compatible target", retry_after=5)
    targets = [Target(t.name, backend) for t, backend in live]
    request = InferenceRequest(inputs={k: v for k, v in payload.items() if k != "model"})
    r = route.resilience
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
            gateway.finish(route, served, "ok", 200, started, len(streamed.attempts), caller)
            return ChatAnswer(
                body=_relay(streamed.value), headers=served_by(served, degraded="false")
            )
        answered = await call_with_resilience(targets, request, **options)  # type: ignore[arg-type]
    except AllTargetsFailed as failure:
        gateway.finish(route, None, "unavailable", 503, started, len(failure.attempts), caller)
        raise Unavailable(
            f"route '{route.name}': every chat target failed", retry_after=failure.retry_after
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
