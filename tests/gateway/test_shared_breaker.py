"""Two Redis-backed breakers with the same name are one breaker, as two replicas would see it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis
from redis.exceptions import RedisError

from mlgate.gateway.resilience import BreakerConfig, BreakerState, MemoryBreaker, RedisBreaker
from tests.clocks import ManualClock

pytestmark = pytest.mark.anyio

CONFIG = BreakerConfig(
    failure_rate=0.5, minimum_calls=4, window_seconds=10, open_seconds=5, half_open_probes=2
)


@pytest.fixture
async def redis(anyio_backend: str) -> AsyncIterator[Redis]:
    client = Redis(host="127.0.0.1", port=6379, socket_connect_timeout=2, socket_timeout=2)
    try:
        await client.ping()
    except RedisError:
        await client.aclose()
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis: Redis) -> AsyncIterator[str]:
    value = f"test-{uuid.uuid4().hex}:"
    yield value
    keys = [key async for key in redis.scan_iter(match=f"{value}*", count=100)]
    if keys:
        await redis.delete(*keys)


def pair(redis: Redis, prefix: str, clock: ManualClock) -> tuple[RedisBreaker, RedisBreaker]:
    return (
        RedisBreaker("model-a", redis, CONFIG, prefix=prefix, clock=clock),
        RedisBreaker("model-a", redis, CONFIG, prefix=prefix, clock=clock),
    )


async def test_failures_seen_by_two_replicas_open_one_shared_breaker(
    redis: Redis, prefix: str, clock: ManualClock
) -> None:
    one, two = pair(redis, prefix, clock)
    await one.record_failure()
    await two.record_failure()
    await one.record_failure()
    assert await two.state() is BreakerState.CLOSED
    await two.record_failure()
    assert await one.state() is BreakerState.OPEN
    assert not await one.allow()
    assert not await two.allow()


async def test_replicas_share_the_half_open_probe_allowance_and_close_together(
    redis: Redis, prefix: str, clock: ManualClock
) -> None:
    one, two = pair(redis, prefix, clock)
    for _ in range(4):
        await one.record_failure()
    clock.advance(5)
    assert await two.state() is BreakerState.HALF_OPEN
    assert [await one.allow(), await two.allow(), await one.allow()] == [True, True, False]
    await one.record_success()
    await two.record_success()
    assert await one.state() is BreakerState.CLOSED
    assert await two.allow()


async def test_failed_probe_on_one_replica_reopens_for_both(
    redis: Redis, prefix: str, clock: ManualClock
) -> None:
    one, two = pair(redis, prefix, clock)
    for _ in range(4):
        await two.record_failure()
    clock.advance(5)
    assert await one.allow()
    await one.record_failure()
    assert await two.state() is BreakerState.OPEN
    assert not await two.allow()


async def test_open_state_key_carries_a_ttl(redis: Redis, prefix: str, clock: ManualClock) -> None:
    one, _ = pair(redis, prefix, clock)
    for _ in range(4):
        await one.record_failure()
    ttl = await redis.pttl(f"{prefix}{{model-a}}:state")
    assert 0 < ttl <= (3 * CONFIG.open_seconds + CONFIG.window_seconds) * 1000


async def test_breakers_with_other_names_are_independent(
    redis: Redis, prefix: str, clock: ManualClock
) -> None:
    sick = RedisBreaker("sick", redis, CONFIG, prefix=prefix, clock=clock)
    healthy = RedisBreaker("healthy", redis, CONFIG, prefix=prefix, clock=clock)
    for _ in range(4):
        await sick.record_failure()
    assert await sick.state() is BreakerState.OPEN
    assert await healthy.state() is BreakerState.CLOSED


async def test_unreachable_redis_fails_open(anyio_backend: str, clock: ManualClock) -> None:
    client = Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)
    try:
        breaker = RedisBreaker("model-a", client, CONFIG, clock=clock)
        await breaker.record_failure()
        assert await breaker.allow()
        assert await breaker.state() is BreakerState.CLOSED
    finally:
        await client.aclose()


Op = tuple[str, float]
ADVANCES = (0.25, 1.0, 2.0, 4.5)  # multiples of 1/4 s: both sides see exactly the same floats


def to_op(roll: int) -> Op:
    """Weighted operations; hypothesis draws plain integers well, lists of tuples less so."""
    if roll < 30:
        return ("failure", 0.0)
    if roll < 55:
        return ("success", 0.0)
    if roll < 80:
        return ("allow", 0.0)
    return ("advance", ADVANCES[roll % len(ADVANCES)])


OPS = st.integers(0, 99).map(to_op)


@settings(
    max_examples=150,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=st.lists(OPS, min_size=10, max_size=60))
@example(ops=[("failure", 0)] * 3 + [("advance", 2), ("success", 0), ("success", 0)])
async def test_redis_breaker_behaves_exactly_like_the_memory_breaker(
    redis: Redis, ops: list[Op]
) -> None:
    clock = ManualClock()
    prefix = f"test-{uuid.uuid4().hex}:"
    config = BreakerConfig(
        failure_rate=0.5, minimum_calls=3, window_seconds=5, open_seconds=2, half_open_probes=2
    )
    memory = MemoryBreaker("m", config, clock=clock)
    shared = RedisBreaker("m", redis, config, prefix=prefix, clock=clock, redis_timeout=1.0)
    try:
        for step, (name, seconds) in enumerate(ops):
            if name == "advance":
                clock.advance(seconds)
            elif name == "allow":
                assert await memory.allow() == await shared.allow(), step
            elif name == "success":
                await memory.record_success()
                await shared.record_success()
            else:
                await memory.record_failure()
                await shared.record_failure()
            assert await memory.state() == await shared.state(), step
    finally:
        await redis.delete(f"{prefix}{{m}}:state", f"{prefix}{{m}}:window")
