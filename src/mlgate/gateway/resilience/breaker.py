"""Circuit breakers per target: stop calling a backend that keeps failing, probe it, recover.

    CLOSED ──failure rate ≥ threshold over the window (and ≥ minimum_calls)──► OPEN
    OPEN ──open_seconds elapsed──► HALF_OPEN (admits at most half_open_probes calls)
    HALF_OPEN ──probe_successes successes──► CLOSED      HALF_OPEN ──any failure──► OPEN

A half-open period whose probes never report (their callers were cancelled) expires after
``open_seconds`` and admits fresh probes, so a lost probe cannot wedge a breaker. Outcomes
reported while OPEN (calls admitted before the trip) are ignored.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from mlgate.gateway.resilience.deadline import Clock
from mlgate.gateway.resilience.window import SlidingCounts

__all__ = ["BreakerConfig", "BreakerState", "CircuitBreaker", "MemoryBreaker"]


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """When a breaker trips and how it recovers.

    The window is time-based (``window_seconds``) unless ``window_calls`` is set, in which case
    it is the last ``window_calls`` outcomes (in-memory breakers only; the Redis breaker is
    always time-based so that replicas agree on what "recent" means).
    """

    failure_rate: float = 0.5
    minimum_calls: int = 20
    window_seconds: float = 10.0
    window_calls: int | None = None
    open_seconds: float = 5.0
    half_open_probes: int = 3
    probe_successes: int = 2

    def __post_init__(self) -> None:
        if not 0 < self.failure_rate <= 1:
            raise ValueError("failure_rate must be in (0, 1]")
        if self.minimum_calls < 1 or self.half_open_probes < 1:
            raise ValueError("minimum_calls and half_open_probes must be at least 1")
        if not 1 <= self.probe_successes <= self.half_open_probes:
            raise ValueError("probe_successes must be between 1 and half_open_probes")
        if self.window_calls is not None and self.window_calls < self.minimum_calls:
            raise ValueError("window_calls must hold at least minimum_calls outcomes")

    def trips(self, calls: int, failures: int) -> bool:
        return calls >= self.minimum_calls and failures >= self.failure_rate * calls


class CircuitBreaker(Protocol):
    """What the executor needs of a breaker; in-memory and Redis-backed ones both provide it."""

    name: str

    async def allow(self) -> bool:
        """True when a call may go to the target now (in HALF_OPEN: this call is a probe)."""
        ...

    async def record_success(self) -> None: ...

    async def record_failure(self) -> None: ...

    async def state(self) -> BreakerState: ...


class _CallWindow:
    """The last N outcomes, for count-based windows."""

    __slots__ = ("_outcomes",)

    def __init__(self, size: int) -> None:
        self._outcomes: deque[bool] = deque(maxlen=size)

    def add(self, failed: bool) -> None:
        self._outcomes.append(failed)

    def totals(self) -> tuple[int, int]:
        return len(self._outcomes), sum(self._outcomes)

    def reset(self) -> None:
        self._outcomes.clear()


class _TimeWindow:
    __slots__ = ("_counts",)

    def __init__(self, seconds: float, clock: Clock) -> None:
        self._counts = SlidingCounts(("calls", "failures"), window=seconds, clock=clock)

    def add(self, failed: bool) -> None:
        self._counts.add("calls")
        if failed:
            self._counts.add("failures")

    def totals(self) -> tuple[int, int]:
        calls, failures = self._counts.totals()
        return calls, failures

    def reset(self) -> None:
        self._counts.reset()


class MemoryBreaker:
    """A circuit breaker for one target in one process. Not thread-safe: one event loop.

    Its transitions mirror the Lua scripts of ``RedisBreaker`` step for step (a test runs both
    on the same operations and compares), so one process or many behave the same.
    """

    __slots__ = ("_clock", "_opened_at", "_probes", "_successes", "_window", "config", "name")

    def __init__(
        self, name: str, config: BreakerConfig | None = None, *, clock: Clock = time.monotonic
    ) -> None:
        self.name = name
        self.config = config or BreakerConfig()
        self._clock = clock
        self._window: _CallWindow | _TimeWindow = (
            _CallWindow(self.config.window_calls)
            if self.config.window_calls is not None
            else _TimeWindow(self.config.window_seconds, clock)
        )
        self._opened_at: float | None = None  # None while CLOSED
        self._probes = 0
        self._successes = 0

    def current_state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at < self.config.open_seconds:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    def _trip(self) -> None:
        self._opened_at = self._clock()
        self._probes = 0
        self._successes = 0
        self._window.reset()

    async def allow(self) -> bool:
        if self._opened_at is None:
            return True
        now, open_seconds = self._clock(), self.config.open_seconds
        if now - self._opened_at < open_seconds:
            return False
        if self._probes >= self.config.half_open_probes:
            if now - self._opened_at < 2 * open_seconds:
                return False
            # The probes admitted long ago never reported back; start a fresh half-open period.
            self._opened_at = now - open_seconds
            self._probes = 0
            self._successes = 0
        self._probes += 1
        return True

    async def record_success(self) -> None:
        self._record(failed=False)

    async def record_failure(self) -> None:
        self._record(failed=True)

    def _record(self, *, failed: bool) -> None:
        if self._opened_at is not None:
            if self._clock() - self._opened_at < self.config.open_seconds:
                return
            if failed:
                self._trip()
                return
            self._successes += 1
            if self._successes >= self.config.probe_successes:
                self._opened_at = None
                self._window.reset()
            return
        self._window.add(failed)
        if self.config.trips(*self._window.totals()):
            self._trip()

    async def state(self) -> BreakerState:
        return self.current_state()
