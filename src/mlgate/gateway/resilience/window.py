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

    __slots__ = (
        "_clock",
        "_epochs",
        "_seen",
        "_slots",
        "_sums",
        "_values",
        "_width",
        "buckets",
        "window",
    )

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
        # The totals over the window as of epoch _seen; summed again only when the epoch moves
        # (once per bucket width), so adding and reading are O(1) at any request rate.
        self._seen: int | None = None
        self._sums = [0] * len(names)

    def _sync(self) -> int:
        epoch = math.floor(self._clock() / self._width)
        if epoch != self._seen:
            self._seen = epoch
            oldest = epoch - self.buckets
            sums = [0] * len(self._slots)
            for bucket_epoch, values in zip(self._epochs, self._values, strict=True):
                if bucket_epoch > oldest:
                    sums = [a + b for a, b in zip(sums, values, strict=True)]
            self._sums = sums
        return epoch

    def add(self, name: str, amount: int = 1) -> None:
        epoch = self._sync()
        index = epoch % self.buckets
        if self._epochs[index] != epoch:
            if self._epochs[index] > epoch - self.buckets:  # the clock went back: still counted
                self._sums = [a - b for a, b in zip(self._sums, self._values[index], strict=True)]
            self._epochs[index] = epoch
            self._values[index] = [0] * len(self._slots)
        slot = self._slots[name]
        self._values[index][slot] += amount
        self._sums[slot] += amount

    def total(self, name: str) -> int:
        self._sync()
        return self._sums[self._slots[name]]

    def totals(self) -> list[int]:
        """Every event's count, in the order of ``names``."""
        self._sync()
        return list(self._sums)

    def reset(self) -> None:
        self._epochs = [-1] * self.buckets
        self._seen = None
        self._sums = [0] * len(self._slots)
