"""A concurrency limit per target that rejects at once when full instead of queueing."""

from __future__ import annotations

from types import TracebackType

from mlgate.errors import Unavailable

__all__ = ["Bulkhead", "BulkheadSlot"]


class Bulkhead:
    """At most ``max_concurrent`` calls in flight to one target.

    Queueing behind a slow backend only turns its latency into everyone's latency and hides the
    overload; rejecting lets the executor fall back to another target right away. Not
    thread-safe: one instance lives on one event loop (no await between check and take).
    """

    __slots__ = ("_in_flight", "max_concurrent", "name", "retry_after")

    def __init__(self, name: str, max_concurrent: int, *, retry_after: float = 1.0) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        self.name = name
        self.max_concurrent = max_concurrent
        self.retry_after = retry_after
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def acquire(self) -> BulkheadSlot:
        """Take a slot, or raise Unavailable (with retry_after) when all are taken."""
        if self._in_flight >= self.max_concurrent:
            raise Unavailable(
                f"target '{self.name}' is at its limit of {self.max_concurrent} concurrent "
                "calls; retry shortly",
                retry_after=self.retry_after,
            )
        self._in_flight += 1
        return BulkheadSlot(self)

    def _release(self) -> None:
        self._in_flight -= 1


class BulkheadSlot:
    """One taken slot; release it exactly once (``with`` does), later calls are no-ops."""

    __slots__ = ("_bulkhead",)

    def __init__(self, bulkhead: Bulkhead) -> None:
        self._bulkhead: Bulkhead | None = bulkhead

    def release(self) -> None:
        if self._bulkhead is not None:
            self._bulkhead._release()
            self._bulkhead = None

    def __enter__(self) -> BulkheadSlot:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
