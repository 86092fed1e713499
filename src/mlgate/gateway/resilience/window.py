"""Time-bucketed sliding-window counters, shared by the circuit breaker and the retry budget."""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["SlidingCounts"]


class SlidingCounts:
    """Counts of a few named events over the last ``window`` seconds, in ``buckets`` slices.

    Memory and time per operation are O(buckets), independent of the request rate. The window
    slides one bucket at a time, so an event is forgotten between ``window - window/buckets`` and
    ``window`` seconds after it happened. Not thread-safe: one instance lives on one event loop.
    """

    __slots__ = ("_clock", "_epochs", "_slots", "_values", "_width", "buckets", "window")

    def __init__(
        self,
        names: tuple[str, ...],
        *,
        window: float,
        buckets: int = 10,
        clock: Callable[[], float],
    ) -> None:
        if window <= 0 or buckets <= 0:
            raise ValueError("window and buckets must be positive")
        self.window = window
        self.buckets = buckets
        self._width = window / buckets
        self._clock = clock
        self._slots = {name: index for index, name in enumerate(names)}
        # _values[b][i]: count of event i in bucket b, valid only while _epochs[b] is current.
        self._epochs = [-1] * buckets
        self._values = [[0] * len(names) for _ in range(buckets)]

    def _epoch(self) -> int:
        return math.floor(self._clock() / self._width)

    def add(self, name: str, amount: int = 1) -> None:
        epoch = self._epoch()
        index = epoch % self.buckets
        if self._epochs[index] != epoch:
            self._epochs[index] = epoch
            self._values[index] = [0] * len(self._slots)
        self._values[index][self._slots[name]] += amount

    def total(self, name: str) -> int:
        slot = self._slots[name]
        oldest = self._epoch() - self.buckets
        return sum(
            values[slot]
            for epoch, values in zip(self._epochs, self._values, strict=True)
            if epoch > oldest
        )

    def totals(self) -> list[int]:
        """Every event's count, in the order of ``names``: one pass over the buckets."""
        oldest = self._epoch() - self.buckets
        sums = [0] * len(self._slots)
        for epoch, values in zip(self._epochs, self._values, strict=True):
            if epoch > oldest:
                sums = [a + b for a, b in zip(sums, values, strict=True)]
        return sums

    def reset(self) -> None:
        self._epochs = [-1] * self.buckets
