"""Rate limits shared through Redis keep holding, per replica, while Redis is out of reach."""

from __future__ import annotations

import socket
import uuid

import pytest
from limits.aio.storage import MemoryStorage
from redis.asyncio import ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError

from mlgate.errors import RateLimited
from mlgate.gateway.ratelimit import RateLimiter
from tests.relay import Relay

pytestmark = pytest.mark.anyio


async def test_a_limit_is_held_by_the_replica_while_redis_is_cut_off() -> None:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=2):
            pass
    except OSError:
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    relay = Relay(("127.0.0.1", 6379))
    url = f"redis://127.0.0.1:{relay.port}/0"
    pool = ConnectionPool.from_url(url)
    limiter = RateLimiter.over_redis(
        url,
        pool,
        prefix=f"test-rl-{uuid.uuid4().hex}",
        redis_timeout=5,  # a slow answer on a busy machine is not what this test cuts off
        redis_backoff=0,  # ask Redis again at once: no wait in the test
    )
    try:
        for _ in range(3):  # counted in Redis
            await limiter.hit("4/minute", "route", "r")
        relay.cut()
        for _ in range(4):  # Redis out of reach: counted here, never an error
            await limiter.hit("4/minute", "route", "r")
        with pytest.raises(RateLimited):  # and still a limit
            await limiter.hit("4/minute", "route", "r")
        relay.restore()
        await limiter.hit("4/minute", "route", "r")  # Redis again: its fourth (locally a fifth)
        with pytest.raises(RateLimited) as refused:  # its fifth
            await limiter.hit("4/minute", "route", "r")
        assert 0 < refused.value.retry_after <= 60
    finally:
        await pool.disconnect()
        relay.cut()


async def test_without_redis_a_limit_is_held_in_memory() -> None:
    limiter = RateLimiter()
    await limiter.hit("1/minute", "key", "k")
    with pytest.raises(RateLimited, match="this key's rate limit 1/minute is exceeded"):
        await limiter.hit("1/minute", "key", "k", limit="this key's")
    await limiter.hit("1/minute", "key", "other")  # another identity, its own count


class CutAfterCounting(MemoryStorage):
    """Shared storage that counts a hit, then fails as Redis does when cut off mid-request."""

    async def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        raise RedisConnectionError("connection lost")


async def test_a_hit_redis_refused_stays_refused_when_redis_cannot_say_until_when() -> None:
    limiter = RateLimiter(CutAfterCounting(), redis_backoff=0)
    await limiter.hit("1/minute", "route", "r")
    # Redis counted the second hit and refused it; this replica's own count (none) must not
    # admit it because the question that followed failed.
    with pytest.raises(RateLimited) as refused:
        await limiter.hit("1/minute", "route", "r")
    assert refused.value.retry_after == pytest.approx(60, abs=1)  # at the latest, a window on
