"""Per-route and per-key rate limits with the ``limits`` library: memory, or Redis for replicas.

A moving window is exact, so two replicas sharing Redis hold one combined limit. When Redis is
unreachable or slower than ``redis_timeout``, a limit must neither fail the request (it was a
500 for every request on a limited route) nor vanish: this replica holds it on its own, in
memory, and leaves Redis alone for ``redis_backoff`` seconds (``resilience.redisreach``). Until
Redis answers again, N replicas together admit up to N times a route's rate.
"""

from __future__ import annotations

import time
from typing import Any

import limits
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from redis.asyncio import ConnectionPool

from mlgate.errors import RateLimited
from mlgate.gateway.resilience.redisreach import RedisReach, Unreachable

__all__ = ["RateLimiter"]


class RateLimiter:
    def __init__(
        self,
        redis_url: str | None = None,
        *,
        prefix: str = "mlgate-rl",
        redis_timeout: float = 0.25,  # a limit is worth waiting longer for than a breaker
        redis_backoff: float = 1.0,
    ) -> None:
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._shared: MovingWindowRateLimiter | None = None
        self._pool: ConnectionPool | None = None
        if redis_url:
            self._pool = ConnectionPool.from_url(redis_url)  # ours, so that close() can close it
            uri = redis_url.replace("redis://", "async+redis://", 1)
            # The redispy bridge takes a connection_pool, though limits types options as scalars.
            pool: Any = self._pool
            shared = storage_from_string(
                uri, implementation="redispy", key_prefix=prefix, connection_pool=pool
            )
            assert isinstance(shared, Storage)  # the async+ scheme yields an async storage
            self._shared = MovingWindowRateLimiter(shared)
        self._reach = RedisReach(
            "rate limits in Redis unavailable; held by this replica alone",
            timeout=redis_timeout,
            backoff=redis_backoff,
        )
        self._parsed: dict[str, limits.RateLimitItem] = {}

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.disconnect()

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
                reset_time = await self._reach.ask(_hit(self._shared, item, identifiers))
            except Unreachable:
                pass  # held here until Redis answers again
            else:
                _refuse_if_over(reset_time, rate, limit)
                return
        _refuse_if_over(await _hit(self._local, item, identifiers), rate, limit)


async def _hit(
    limiter: MovingWindowRateLimiter, item: limits.RateLimitItem, identifiers: tuple[str, ...]
) -> float | None:
    """Count one hit; None when it fits the limit, else when the window frees a place."""
    if await limiter.hit(item, *identifiers):
        return None
    stats = await limiter.get_window_stats(item, *identifiers)
    return float(stats.reset_time)


def _refuse_if_over(reset_time: float | None, rate: str, limit: str) -> None:
    if reset_time is not None:
        raise RateLimited(
            f"{limit} rate limit {rate} is exceeded; retry later",
            retry_after=max(0.0, reset_time - time.time()),
        )
