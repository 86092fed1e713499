"""How a backend reports a failed call, so resilience can decide to retry, trip or fall back.

    UpstreamFailure             base; ``retryable`` says whether repeating the call may help
    ├── ConnectFailure          the connection failed or was reset; retryable
    ├── TimeoutFailure          the attempt ran out of time; retryable
    ├── StatusFailure           the upstream answered an error status; retryable on 429/502/503/504
    ├── ProtocolFailure         the answer was not what the protocol promises (malformed JSON)
    └── StreamInterrupted       a stream broke after its first byte reached the client

Inference calls are treated as idempotent (a model is a function of its input), which is why a
connection reset after the request was sent still counts as retryable. Messages never carry
request payloads or upstream headers.
"""

from __future__ import annotations

__all__ = [
    "RETRYABLE_STATUSES",
    "ConnectFailure",
    "ProtocolFailure",
    "StatusFailure",
    "StreamInterrupted",
    "TimeoutFailure",
    "UpstreamFailure",
]

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})


class UpstreamFailure(Exception):
    """A call to one backend failed; the resilience layer decides what happens next."""

    retryable: bool = False
    retry_after: float | None = None

    @property
    def is_client_error(self) -> bool:
        """True when the request itself was refused: another attempt or target cannot help."""
        return False

    @property
    def kind(self) -> str:
        """A short label for attempt logs and metrics."""
        return type(self).__name__.removesuffix("Failure").lower()


class ConnectFailure(UpstreamFailure):
    retryable = True


class TimeoutFailure(UpstreamFailure):
    retryable = True


class StatusFailure(UpstreamFailure):
    def __init__(self, status: int, *, retry_after: float | None = None) -> None:
        super().__init__(f"upstream answered HTTP {status}")
        self.status = status
        self.retry_after = retry_after
        self.retryable = status in RETRYABLE_STATUSES

    @property
    def is_client_error(self) -> bool:
        return 400 <= self.status < 500 and self.status not in (408, 429)

    @property
    def kind(self) -> str:
        return f"status_{self.status}"


class ProtocolFailure(UpstreamFailure):
    pass


class StreamInterrupted(UpstreamFailure):
    pass
