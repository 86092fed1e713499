"""Retry policy (which failures, how long to wait) and the per-route retry budget.

Why hand-written: tenacity and backoff decide *whether one call* retries, but none of the
well-kept asyncio libraries implements a retry *budget* — a cap on retries as a share of all
requests over a window (Finagle's ``RetryBudget``, Linkerd's and Envoy's retry budgets). Without
one, a sick backend that fails every call receives ``max_attempts`` times its normal load, the
classic retry storm. The policy itself is a few lines of arithmetic; owning it keeps the
backoff, Retry-After and deadline rules in one place that the executor and tests share.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from mlgate.gateway.resilience.deadline import Clock, Deadline
from mlgate.gateway.resilience.failures import UpstreamFailure
from mlgate.gateway.resilience.window import SlidingCounts

__all__ = ["LONGEST_RETRY_AFTER", "RetryBudget", "RetryPolicy", "parse_retry_after"]

LONGEST_RETRY_AFTER = 86_400.0


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent.

    At most a day (``LONGEST_RETRY_AFTER``): 400 nines are an infinite float, and the 503 that
    passes the hint on to the caller could not say it.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # not "²", which float() refuses
        return min(float(value), LONGEST_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, (when - (now or datetime.now(UTC))).total_seconds()), LONGEST_RETRY_AFTER)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often one target is tried and how long to wait between tries.

    ``max_attempts`` counts the first try. Backoff is "full jitter": a uniform draw in
    ``[0, min(max_delay, base_delay * 2**n)]``, which spreads synchronised clients best. A
    Retry-After hint replaces the backoff when longer, but only up to ``max_retry_after`` and
    never past the request's deadline: a hint beyond it means "give up on this target now".
    """

    max_attempts: int = 3
    base_delay: float = 0.025
    max_delay: float = 1.0
    attempt_timeout: float | None = None
    max_retry_after: float = 5.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts counts the first try and must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("delays must not be negative")

    def should_retry(self, failure: BaseException) -> bool:
        return isinstance(failure, UpstreamFailure) and failure.retryable

    def backoff(self, retry: int, rand: Callable[[], float] = random.random) -> float:
        """Full-jitter delay before retry number ``retry`` (1 for the first retry)."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** max(0, retry - 1))
        return rand() * ceiling

    def delay_before(
        self,
        retry: int,
        failure: UpstreamFailure,
        deadline: Deadline,
        rand: Callable[[], float] = random.random,
    ) -> float | None:
        """Seconds to wait before retry number ``retry``, or None when it cannot fit in time."""
        delay = self.backoff(retry, rand)
        if failure.retry_after is not None:
            if failure.retry_after > self.max_retry_after:
                return None
            delay = max(delay, failure.retry_after)
        # The retry must still have time to run after the wait.
        if delay >= deadline.remaining():
            return None
        return delay


class RetryBudget:
    """Lets retries be at most ``ratio`` of requests over a sliding window, plus a small floor.

    Every request calls :meth:`record_request`; every retry must win :meth:`try_spend`. A retry
    is allowed while ``retries < ratio * requests + min_per_second * window`` over the window, so
    under total failure a target sees at most ``(1 + ratio)`` times its request rate plus the
    floor — never ``max_attempts`` times. The floor keeps retries possible at low traffic.
    One budget per route, shared by all its targets; not thread-safe (one event loop).
    """

    __slots__ = ("_counts", "min_per_second", "ratio")

    def __init__(
        self,
        *,
        ratio: float = 0.2,
        min_per_second: float = 1.0,
        window: float = 10.0,
        clock: Clock = time.monotonic,
    ) -> None:
        if ratio < 0 or min_per_second < 0:
            raise ValueError("ratio and min_per_second must not be negative")
        self.ratio = ratio
        self.min_per_second = min_per_second
        self._counts = SlidingCounts(("requests", "retries"), window=window, clock=clock)

    def record_request(self) -> None:
        self._counts.add("requests")

    def allowance(self) -> float:
        """How many retries the current window allows in total."""
        requests = self._counts.total("requests")
        return self.ratio * requests + self.min_per_second * self._counts.window

    def try_spend(self) -> bool:
        """Take one retry from the budget; False (and nothing taken) when it is exhausted."""
        if self._counts.total("retries") + 1 > self.allowance():
            return False
        self._counts.add("retries")
        return True
