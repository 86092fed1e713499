"""What every backend speaks: inference requests and results, and a stream handed to a client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from mlgate.gateway.resilience.failures import StreamInterrupted

__all__ = ["Backend", "InferenceRequest", "InferenceResult", "StreamingBackend", "UpstreamStream"]


@dataclass(frozen=True, slots=True)
class InferenceRequest:
    """A validated request: ``inputs`` is JSON (rows, named tensors, or a chat body)."""

    inputs: Any
    parameters: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class InferenceResult:
    """What a backend answered, already converted to JSON-ready values."""

    outputs: Any


class Backend(Protocol):
    """One place a model runs; ``infer`` raises ``UpstreamFailure`` subclasses on failure.

    ``infer`` (and ``stream``, until its first chunk) must answer or fail within ``timeout``
    seconds, with ``TimeoutFailure``: the resilient call relies on it to keep the deadline.
    """

    name: str

    async def infer(self, request: InferenceRequest, *, timeout: float) -> InferenceResult: ...


class StreamingBackend(Backend, Protocol):
    async def stream(self, request: InferenceRequest, *, timeout: float) -> UpstreamStream:
        """Open a stream and read its first chunk within ``timeout``; fail before that or never."""
        ...


class UpstreamStream:
    """Bytes from an upstream, with the first chunk already received.

    Because the first chunk is fetched before the stream is returned, every failure up to the
    first byte happens inside the resilient call and can still fall back. Afterwards,
    ``first_byte_sent`` tells the caller it is committed: a later failure raises
    ``StreamInterrupted`` and must end the client's response, not retry it. The caller must
    ``await stream.aclose()`` when done (in a ``finally``): that returns the connection to the
    pool and runs the close callbacks, such as releasing the target's bulkhead slot.
    """

    __slots__ = ("_close", "_closed", "_first", "_on_close", "_rest", "first_byte_sent")

    def __init__(
        self,
        first: bytes,
        rest: AsyncIterator[bytes],
        close: Callable[[], Awaitable[None]],
    ) -> None:
        self._first = first
        self._rest = rest
        self._close = close
        self._closed = False
        self._on_close: list[Callable[[], None]] = []
        self.first_byte_sent = False

    def add_close_callback(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once when the stream closes (releases a bulkhead slot, say)."""
        self._on_close.append(callback)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            self.first_byte_sent = True
            yield self._first
            async for chunk in self._rest:
                yield chunk
        except StreamInterrupted:
            raise
        except Exception as exc:
            raise StreamInterrupted("upstream stream broke after the first byte") from exc
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._close()
        finally:
            for callback in self._on_close:
                callback()
