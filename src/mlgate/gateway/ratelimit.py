"""Per-route and per-key rate limits with the ``limits`` library: memory, or Redis for replicas.

A moving window is exact, so two replicas sharing Redis hold one combined limit.
"""

from __future__ import annotations

import time

import limits
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from mlgate.errors import RateLimited

__all__ = ["RateLimiter"]


class RateLimiter:
    def __init__(self, redis_url: str | None = None, *, prefix: str = "mlgate-rl") -> None:
        storage: Storage
        if redis_url:
            uri = redis_url.replace("redis://", "async+redis://", 1)
            shared = storage_from_string(uri, implementation="redispy", key_prefix=prefix)
            assert isinstance(shared, Storage)  # the async+ scheme yields an async storage
            storage = shared
        else:
            storage = MemoryStorage()
        self._limiter = MovingWindowRateLimiter(storage)
        self._parsed: dict[str, limits.RateLimitItem] = {}

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
        if await self._limiter.hit(item, *identifiers):
            return
        stats = await self._limiter.get_window_stats(item, *identifiers)
        retry_after = max(0.0, stats.reset_time - time.time())
        raise RateLimited(
            f"{limit} rate limit {rate} is exceeded; retry later", retry_after=retry_after
        )
