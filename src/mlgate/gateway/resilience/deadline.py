"""A per-request deadline on the monotonic clock: every attempt draws from one time budget."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Clock", "Deadline"]

Clock = Callable[[], float]
"""Seconds on a monotonic scale; ``time.monotonic`` in production, a manual clock in tests."""


@dataclass(frozen=True, slots=True)
class Deadline:
    """The instant a request must be answered by; nothing it starts may outlive it."""

    expires_at: float
    clock: Clock = field(default=time.monotonic, compare=False, repr=False)

    @classmethod
    def after(cls, seconds: float, *, clock: Clock = time.monotonic) -> Deadline:
        if seconds < 0:
            raise ValueError("a deadline cannot be in the past")
        return cls(clock() + seconds, clock)

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self.expires_at - self.clock())

    @property
    def expired(self) -> bool:
        return self.clock() >= self.expires_at

    def attempt_timeout(self, per_attempt: float | None) -> float:
        """The timeout of the next attempt: its own limit, cut to what the request has left."""
        remaining = self.remaining()
        return remaining if per_attempt is None else min(per_attempt, remaining)
