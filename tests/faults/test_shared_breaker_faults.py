"""Two gateway replicas sharing one Redis breaker: once it trips, neither sends to the target."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from mlgate.gateway.backends import GenericJson, HttpBackend, InferenceRequest
from mlgate.gateway.backends.wire import Http1Client
from mlgate.gateway.call import AllTargetsFailed, Target, call_with_resilience
from mlgate.gateway.resilience import (
    BreakerConfig,
    BreakerState,
    Deadline,
    RedisBreaker,
    RetryBudget,
    RetryPolicy,
)
from tests.clocks import ManualClock

from .upstream import FaultyUpstream, Ok, Status

pytestmark = pytest.mark.anyio


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


async def test_a_trip_seen_by_one_replica_protects_the_target_from_the_other(
    upstream: FaultyUpstream, client: Http1Client, redis: Redis, clock: ManualClock
) -> None:
    prefix = f"test-{uuid.uuid4().hex}:"  # unique keys: runs in parallel never meet
    config = BreakerConfig(minimum_calls=4, open_seconds=10, half_open_probes=1, probe_successes=1)
    replicas = [
        RedisBreaker("sick", redis, config, prefix=prefix, clock=clock, redis_timeout=1.0)
        for _ in range(2)
    ]
    target = Target(
        "sick", HttpBackend("sick", client=client, base_url=upstream.url, adapter=GenericJson())
    )
    upstream.fault = Status(500)

    async def call(replica: RedisBreaker) -> None:
        await call_with_resilience(
            [target],
            InferenceRequest([[1.0]]),
            deadline=Deadline.after(5.0),
            policy=RetryPolicy(max_attempts=1),
            budget=RetryBudget(),
            breakers={"sick": replica},
        )

    for index in range(4):  # failures spread over both replicas
        with pytest.raises(AllTargetsFailed):
            await call(replicas[index % 2])
    assert await replicas[1].state() is BreakerState.OPEN
    for _ in range(10):
        for replica in replicas:
            with pytest.raises(AllTargetsFailed, match="breaker_open"):
                await call(replica)
    assert upstream.received == 4

    upstream.fault = Ok()
    clock.advance(10)
    await call(replicas[1])  # the one probe, from either replica, closes it for both
    assert await replicas[0].state() is BreakerState.CLOSED
    await call(replicas[0])
    assert upstream.received == 6
    await redis.delete(f"{prefix}{{sick}}:state", f"{prefix}{{sick}}:window")
