"""Per-route and per-key rate limits with the ``limits`` library: memory, or Redis for replicas.

A moving window is exact, so two replicas sharing Redis hold one combined limit. When Redis is
unreachable or slower than ``redis_timeout``, a limit must neither fail the request (it was a
500 for every request on a limited route) nor vanish: this replica holds it on its own, in
memory, and leaves Redis alone for ``redis_backoff`` seconds (``resilience.redisreach``). Until
Redis answers again, N replicas together admit up to N times a route's rate. A hit Redis
counted and refused stays refused when Redis then fails to say when a place frees (the
Retry-After is then a whole window). The Redis connection pool is the gateway's, shared with
the breakers.
"""

from __future__ import annotations

import time
from typing import Any

import limits
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import ConnectionPool

from mlgate.errors import RateLimited
from mlgate.gateway.resilience.redisreach import RedisReach, Unreachable

__all__ = ["RateLimiter"]


class RateLimiter:
    """Limits counted in ``shared`` storage (Redis), or in this replica's memory without it."""

    def __init__(
        self,
        shared: Storage | None = None,
        *,
        redis_timeout: float = 0.25,  # a limit is worth waiting longer for than a breaker
        redis_backoff: float = 1.0,
    ) -> None:
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._shared = MovingWindowRateLimiter(shared) if shared is not None else None
        self._reach = RedisReach(
            "rate limits in Redis unavailable; held by this replica alone",
            timeout=redis_timeout,
            backoff=redis_backoff,
        )
        self._parsed: dict[str, limits.RateLimitItem] = {}

    @classmethod
    def over_redis(
        cls, redis_url: str, pool: ConnectionPool, *, prefix: str, **options: float
    ) -> RateLimiter:
        """Limits in Redis through ``pool``, which the caller owns (the breakers share it)."""
        uri = redis_url.replace("redis://", "async+redis://", 1)
        # The redispy bridge takes a connection_pool, though limits types options as scalars.
        given: Any = pool
        shared = RedisStorage(
            uri, implementation="redispy", key_prefix=prefix, connection_pool=given
        )
        return cls(shared, **options)

    def _item(self, rate: str) -> limits.RateLimitItem:
        item = self._parsed.get(rate)
        if item is None:
            item = self._parsed[rate] = limits.parse(rate)
        return item

    async def hit(self, rate: str, *identifiers: str, limit: str = "the") -> None:
        """Count one request against ``rate`` for ``identifiers``; RateLimited when over it.

        ``limit`` says whose limit it is in the message ("this key's rate limit ...").
        """
        item = self._item(rate)
        if self._shared is not None:
            try:
                admitted = await self._reach.ask(self._shared.hit(item, *identifiers))
            except Unreachable:
                pass  # held here until Redis answers again
            else:
                if not admitted:  # Redis refused: when a place frees is only the Retry-After
                    try:
                        reset = await self._reach.ask(_reset_time(self._shared, item, identifiers))
                    except Unreachable:
                        reset = time.time() + item.get_expiry()  # at the latest, a window on
                    raise _refusal(reset, rate, limit)
                return
        if not await self._local.hit(item, *identifiers):
            raise _refusal(await _reset_time(self._local, item, identifiers), rate, limit)


async def _reset_time(
    limiter: MovingWindowRateLimiter, item: limits.RateLimitItem, identifiers: tuple[str, ...]
) -> float:
    """When the window frees a place for ``identifiers``, in Unix time."""
    stats = await limiter.get_window_stats(item, *identifiers)
    return float(stats.reset_time)


def _refusal(reset_time: float, rate: str, limit: str) -> RateLimited:
    return RateLimited(
        f"{limit} rate limit {rate} is exceeded; retry later",
        retry_after=max(0.0, reset_time - time.time()),
    )
