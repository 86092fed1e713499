"""Resilient calls against real failing upstreams: fallback, deadlines, breakers, budgets."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence

import aiohttp
import pytest

from mlgate.gateway.backends import GenericJson, HttpBackend, InferenceRequest, OpenAIChat
from mlgate.gateway.call import (
    AllTargetsFailed,
    CallOutcome,
    Target,
    call_with_resilience,
    stream_with_resilience,
)
from mlgate.gateway.resilience import (
    BreakerConfig,
    BreakerState,
    Bulkhead,
    Deadline,
    MemoryBreaker,
    RetryBudget,
    RetryPolicy,
)
from tests.clocks import ManualClock

from .upstream import SSE_EVENTS, Fault, FaultyUpstream, Flaky, Hang, Latency, Ok, Reset, Status

pytestmark = pytest.mark.anyio

ROWS = [[1.0, 2.0]]
NO_WAIT = RetryPolicy(max_attempts=3, base_delay=0.0)


def target(name: str, upstream: FaultyUpstream, client: aiohttp.ClientSession) -> Target:
    backend = HttpBackend(name, client=client, base_url=upstream.url, adapter=GenericJson())
    return Target(name, backend)


async def gather_bounded(
    count: int, concurrency: int, call: Callable[[], object]
) -> list[BaseException | object]:
    """Run ``call`` ``count`` times, at most ``concurrency`` at once; collect results/errors."""
    limit = asyncio.Semaphore(concurrency)

    async def one() -> object:
        async with limit:
            return await call()  # type: ignore[misc]

    return await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True)


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_flaky_primary_with_healthy_fallback_serves_nearly_every_call(
    start_upstream: Callable[[], FaultyUpstream], client: aiohttp.ClientSession
) -> None:
    primary, fallback = start_upstream(), start_upstream()
    primary.fault = Flaky(rate=0.5, seed=7)
    targets = [target("primary", primary, client), target("fallback", fallback, client)]
    budget = RetryBudget(ratio=0.2, min_per_second=10)
    breakers = {t.name: MemoryBreaker(t.name, BreakerConfig(failure_rate=0.9)) for t in targets}
    rand = random.Random(1).random

    def call() -> object:
        return call_with_resilience(
            targets,
            InferenceRequest(ROWS),
            deadline=Deadline.after(5.0),
            policy=RetryPolicy(max_attempts=2, base_delay=0.001),
            budget=budget,
            breakers=breakers,
            rand=rand,
        )

    results = await gather_bounded(10_000, 8, call)
    served = [r for r in results if isinstance(r, CallOutcome)]
    assert len(served) / len(results) >= 0.999
    assert all(r.value.outputs == ROWS for r in served)
    assert any(r.fallback for r in served)
    assert primary.received > 5_000  # the primary kept serving its healthy half


@pytest.mark.parametrize("fault", [Hang(), Reset(), Status(503), Latency(ms=2_000)])
async def test_all_targets_down_raises_unavailable_within_the_deadline(
    start_upstream: Callable[[], FaultyUpstream], client: aiohttp.ClientSession, fault: Fault
) -> None:
    upstreams = [start_upstream(), start_upstream()]
    for upstream in upstreams:
        upstream.fault = fault
    targets = [target(f"t{i}", u, client) for i, u in enumerate(upstreams)]
    started = time.monotonic()
    with pytest.raises(AllTargetsFailed) as caught:
        await call_with_resilience(
            targets,
            InferenceRequest(ROWS),
            deadline=Deadline.after(0.5),
            policy=RetryPolicy(max_attempts=3, base_delay=0.01, attempt_timeout=0.2),
            budget=RetryBudget(),
        )
    assert time.monotonic() - started < 0.5 + 0.25
    assert caught.value.status == 503
    assert caught.value.retry_after is not None
    assert caught.value.attempts


async def test_open_breaker_lets_only_half_open_probes_reach_the_upstream(
    start_upstream: Callable[[], FaultyUpstream],
    client: aiohttp.ClientSession,
    clock: ManualClock,
) -> None:
    sick, fallback = start_upstream(), start_upstream()
    sick.fault = Status(500)
    config = BreakerConfig(minimum_calls=5, failure_rate=0.5, open_seconds=30, half_open_probes=2)
    breaker = MemoryBreaker("sick", config, clock=clock)
    targets = [target("sick", sick, client), target("fallback", fallback, client)]

    async def call() -> CallOutcome[object]:
        return await call_with_resilience(  # type: ignore[return-value]
            targets,
            InferenceRequest(ROWS),
            deadline=Deadline.after(5.0),
            policy=NO_WAIT,
            budget=RetryBudget(),
            breakers={"sick": breaker},
        )

    for _ in range(5):
        assert (await call()).target == "fallback"
    assert await breaker.state() is BreakerState.OPEN
    assert sick.received == 5

    for _ in range(20):  # open: the sick upstream sees nothing
        assert (await call()).target == "fallback"
    assert sick.received == 5

    clock.advance(30)  # half-open, upstream still sick and slow: at most 2 probes get through
    sick.fault = Latency(ms=300)
    sick.reset_counts()
    outcomes = await asyncio.gather(*(call() for _ in range(10)))
    assert sick.received == 2
    assert sum(o.target == "sick" for o in outcomes) == 2
    assert await breaker.state() is BreakerState.CLOSED  # two probe successes close it

    sick.fault = Ok()
    sick.reset_counts()
    for _ in range(10):
        assert (await call()).target == "sick"
    assert sick.received == 10


async def test_failed_probe_reopens_the_breaker(
    upstream: FaultyUpstream, client: aiohttp.ClientSession, clock: ManualClock
) -> None:
    upstream.fault = Status(503)
    config = BreakerConfig(minimum_calls=2, open_seconds=10, half_open_probes=1, probe_successes=1)
    breaker = MemoryBreaker("sick", config, clock=clock)
    targets = [target("sick", upstream, client)]
    for _ in range(2):
        with pytest.raises(AllTargetsFailed):
            await call_with_resilience(
                targets,
                InferenceRequest(ROWS),
                deadline=Deadline.after(5.0),
                policy=RetryPolicy(max_attempts=1),
                budget=RetryBudget(),
                breakers={"sick": breaker},
            )
    assert await breaker.state() is BreakerState.OPEN
    clock.advance(10)
    with pytest.raises(AllTargetsFailed):
        await call_with_resilience(
            targets,
            InferenceRequest(ROWS),
            deadline=Deadline.after(5.0),
            policy=NO_WAIT,
            budget=RetryBudget(),
            breakers={"sick": breaker},
        )
    assert upstream.received == 3  # one probe, no retries into an open breaker
    assert await breaker.state() is BreakerState.OPEN


@pytest.mark.parametrize("requests", [50, 400])
async def test_retries_reaching_a_dead_upstream_never_exceed_the_budget(
    upstream: FaultyUpstream, client: aiohttp.ClientSession, requests: int
) -> None:
    upstream.fault = Status(503)
    budget = RetryBudget(ratio=0.1, min_per_second=1, window=10)
    targets = [target("dead", upstream, client)]

    async def call() -> object:
        return await call_with_resilience(
            targets,
            InferenceRequest(ROWS),
            deadline=Deadline.after(5.0),
            policy=RetryPolicy(max_attempts=5, base_delay=0.0),
            budget=budget,
        )

    results = await gather_bounded(requests, 32, call)
    assert all(isinstance(r, AllTargetsFailed) for r in results)
    retries = upstream.received - requests
    assert 0 < retries <= 0.1 * requests + 1 * 10
    # Without the budget, 5 attempts each would have sent 5x the load.
    assert upstream.received < 2 * requests


async def test_retry_after_beyond_the_deadline_falls_back_instead_of_waiting(
    start_upstream: Callable[[], FaultyUpstream], client: aiohttp.ClientSession
) -> None:
    busy, fallback = start_upstream(), start_upstream()
    busy.fault = Status(429, retry_after="30")
    started = time.monotonic()
    outcome = await call_with_resilience(
        [target("busy", busy, client), target("fallback", fallback, client)],
        InferenceRequest(ROWS),
        deadline=Deadline.after(2.0),
        policy=RetryPolicy(max_attempts=3),
        budget=RetryBudget(),
    )
    assert outcome.target == "fallback"
    assert busy.received == 1
    assert time.monotonic() - started < 1.0
    assert [a.outcome for a in outcome.attempts] == ["status_429", "retry_after_too_long", "ok"]


async def test_short_retry_after_is_honoured_on_the_same_target(
    upstream: FaultyUpstream, client: aiohttp.ClientSession
) -> None:
    upstream.fault = Status(503, retry_after="0")
    targets = [target("only", upstream, client)]
    with pytest.raises(AllTargetsFailed):
        await call_with_resilience(
            targets,
            InferenceRequest(ROWS),
            deadline=Deadline.after(2.0),
            policy=RetryPolicy(max_attempts=3, base_delay=0.0),
            budget=RetryBudget(),
        )
    assert upstream.received == 3


async def test_full_bulkhead_sends_calls_to_the_fallback_at_once(
    start_upstream: Callable[[], FaultyUpstream], client: aiohttp.ClientSession
) -> None:
    slow, fallback = start_upstream(), start_upstream()
    slow.fault = Latency(ms=300)
    targets = [target("slow", slow, client), target("fallback", fallback, client)]
    bulkheads = {"slow": Bulkhead("slow", 2)}

    async def call() -> CallOutcome[object]:
        return await call_with_resilience(  # type: ignore[return-value]
            targets,
            InferenceRequest(ROWS),
            deadline=Deadline.after(5.0),
            policy=NO_WAIT,
            budget=RetryBudget(),
            bulkheads=bulkheads,
        )

    outcomes: Sequence[CallOutcome[object]] = await asyncio.gather(*(call() for _ in range(6)))
    assert sorted(o.target for o in outcomes) == ["fallback"] * 4 + ["slow"] * 2
    assert slow.received == 2
    assert bulkheads["slow"].in_flight == 0


async def test_stream_falls_back_before_the_first_byte_and_holds_the_slot_until_closed(
    start_upstream: Callable[[], FaultyUpstream], client: aiohttp.ClientSession
) -> None:
    down, healthy = start_upstream(), start_upstream()
    down.fault = Reset()
    targets = [
        Target(name, HttpBackend(name, client=client, base_url=u.url, adapter=OpenAIChat()))
        for name, u in (("down", down), ("healthy", healthy))
    ]
    bulkheads = {"healthy": Bulkhead("healthy", 1)}
    outcome = await stream_with_resilience(
        targets,
        InferenceRequest({"messages": [{"role": "user", "content": "hi"}]}),
        deadline=Deadline.after(5.0),
        policy=RetryPolicy(max_attempts=1),
        budget=RetryBudget(),
        bulkheads=bulkheads,
    )
    assert outcome.target == "healthy"
    assert outcome.fallback
    assert bulkheads["healthy"].in_flight == 1
    body = b"".join([chunk async for chunk in outcome.value])
    assert body == b"".join(SSE_EVENTS)
    assert bulkheads["healthy"].in_flight == 0
