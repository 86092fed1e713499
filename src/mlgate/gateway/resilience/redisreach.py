"""Asking Redis on the hot path: within a timeout, and not again for a while after a failure.

Shared breakers and shared rate limits both keep serving when Redis is out of reach (a breaker
fails open, a limit is held by the replica alone). What they share is here: an answer within
``timeout`` seconds or :class:`Unreachable`, and after a failure no further question for
``backoff`` seconds, so an outage costs the hot path one timeout, not one per request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Mapping
from typing import TypeVar

from redis.exceptions import RedisError

__all__ = ["RedisReach", "Unreachable"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Unreachable(Exception):
    """Redis did not answer in time, or failed, just now or within the back-off."""


class RedisReach:
    __slots__ = ("_extra", "_skip_until", "_warning", "backoff", "timeout")

    def __init__(
        self,
        warning: str,
        *,
        timeout: float = 0.05,
        backoff: float = 1.0,
        extra: Mapping[str, str] | None = None,
    ) -> None:
        self.timeout = timeout
        self.backoff = backoff
        self._warning = warning
        self._extra = dict(extra or {})
        self._skip_until = 0.0

    async def ask(self, operation: Awaitable[T]) -> T:
        """``operation``'s answer; Unreachable when Redis fails, is slow, or failed lately."""
        if time.monotonic() < self._skip_until:
            if asyncio.iscoroutine(operation):
                operation.close()  # never awaited: no "never awaited" warning
            raise Unreachable
        try:
            async with asyncio.timeout(self.timeout):
                return await operation
        except (RedisError, OSError, TimeoutError):
            self._skip_until = time.monotonic() + self.backoff
            logger.warning(self._warning, extra=self._extra)
            raise Unreachable from None
