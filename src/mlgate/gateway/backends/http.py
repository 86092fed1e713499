"""Model servers over HTTP: one pooled HTTP/1.1 client, protocol adapters, failures classified.

The client is ``wire.Http1Client`` (see its docstring for why it is not aiohttp or httpx).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
from pydantic import SecretStr

from mlgate.errors import Invalid
from mlgate.gateway.backends.adapters import Adapter
from mlgate.gateway.backends.base import InferenceRequest, InferenceResult, UpstreamStream
from mlgate.gateway.backends.wire import (
    Http1Client,
    Origin,
    ResponseInvalid,
    StreamAnswer,
    request_head,
)
from mlgate.gateway.resilience.failures import (
    ConnectFailure,
    ProtocolFailure,
    StatusFailure,
    StreamInterrupted,
    TimeoutFailure,
    UpstreamFailure,
)
from mlgate.gateway.resilience.retry import parse_retry_after

__all__ = ["HttpBackend", "make_client"]


def make_client(*, keepalive_expiry: float = 30.0) -> Http1Client:
    """The one client every HTTP backend of a gateway process shares (one pool per origin).

    No proxies or certificates from stray environment variables; timeouts are set per call
    from the request's deadline.
    """
    return Http1Client(keepalive_expiry=keepalive_expiry)


def _classify(exc: BaseException) -> UpstreamFailure:
    if isinstance(exc, UpstreamFailure):
        return exc
    if isinstance(exc, TimeoutError):
        return TimeoutFailure("upstream did not answer in time")
    if isinstance(exc, ResponseInvalid):
        return ProtocolFailure(f"upstream answer is broken: {exc}")
    if isinstance(exc, OSError):  # refused, reset, closed early (ConnectionClosed)
        return ConnectFailure(f"connection to upstream failed: {type(exc).__name__}")
    return ProtocolFailure(f"upstream call failed: {type(exc).__name__}")


def _raise_for_status(status: int, retry_after: str | None) -> None:
    if status >= 400:
        raise StatusFailure(status, retry_after=parse_retry_after(retry_after))


class HttpBackend:
    """A model server reached over HTTP with one wire protocol.

    Header values (an upstream API key, say) arrive as ``SecretStr`` and are revealed once,
    into the request head built when the backend loads; neither ``repr`` nor any failure
    message contains them.
    """

    __slots__ = ("_client", "_head", "_origin", "adapter", "idle_timeout", "name")

    def __init__(
        self,
        name: str,
        *,
        client: Http1Client,
        base_url: str,
        adapter: Adapter,
        headers: Mapping[str, str | SecretStr] | None = None,
        idle_timeout: float = 30.0,
    ) -> None:
        self.name = name
        self.adapter = adapter
        self.idle_timeout = idle_timeout
        self._client = client
        parts = urlsplit(base_url)  # the protocol's path goes before a query (?token=…)
        url = urlunsplit(parts._replace(path=parts.path.rstrip("/") + adapter.path))
        self._origin, path = Origin.of(url)
        revealed = {
            key: value.get_secret_value() if isinstance(value, SecretStr) else value
            for key, value in (headers or {}).items()
        }
        self._head = request_head(
            self._origin, path, {**revealed, "Content-Type": "application/json"}
        )

    @property
    def streams(self) -> bool:
        return self.adapter.streams

    @property
    def origin(self) -> Origin:
        return self._origin

    def __repr__(self) -> str:
        return f"HttpBackend(name={self.name!r}, adapter={type(self.adapter).__name__})"

    def _encode(self, request: InferenceRequest, **extra: Any) -> bytes:
        try:
            body = self.adapter.encode(request)
            return orjson.dumps({**body, **extra} if extra else body)
        except (KeyError, TypeError, ValueError, RecursionError) as exc:  # nested too deep
            raise Invalid.field("inputs", f"does not fit the backend protocol: {exc}") from None

    async def infer(self, request: InferenceRequest, *, timeout: float) -> InferenceResult:
        body = self._encode(request)
        try:
            answer = await self._client.post(self._origin, self._head, body, timeout=timeout)
        except (TimeoutError, OSError, ResponseInvalid) as exc:
            raise _classify(exc) from None
        _raise_for_status(answer.status, answer.header(b"retry-after"))
        try:
            return InferenceResult(self.adapter.decode(orjson.loads(answer.body)))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, RecursionError):
            raise ProtocolFailure("upstream answer does not follow its protocol") from None

    async def stream(self, request: InferenceRequest, *, timeout: float) -> UpstreamStream:
        """Open a streaming call (SSE passes through untouched) and wait for its first chunk."""
        if not self.adapter.streams:
            raise ProtocolFailure(f"{type(self.adapter).__name__} does not stream")
        body = self._encode(request, stream=True)
        answer: StreamAnswer | None = None
        try:
            async with asyncio.timeout(timeout):
                answer = await self._client.open_stream(self._origin, self._head, body)
                _raise_for_status(answer.status, answer.header(b"retry-after"))
                if answer.header(b"content-encoding") not in (None, "identity"):
                    # Passed through as is, compressed bytes would reach a client that was
                    # never told they are compressed; we asked for none.
                    raise ProtocolFailure("upstream compressed a stream it was not asked to")
                chunks = answer.chunks()
                first = await anext(chunks, b"")
                if not first:
                    raise ProtocolFailure("upstream stream ended before its first byte")
        except BaseException as exc:
            if answer is not None:
                await answer.aclose()
            if isinstance(exc, TimeoutError | OSError | ResponseInvalid | UpstreamFailure):
                raise _classify(exc) from None
            raise
        return UpstreamStream(first, _rest(chunks, self.idle_timeout), answer.aclose)


async def _rest(chunks: AsyncIterator[bytes], idle_timeout: float) -> AsyncIterator[bytes]:
    try:
        while True:
            async with asyncio.timeout(idle_timeout):
                chunk = await anext(chunks, b"")
            if not chunk:
                return
            yield chunk
    except (TimeoutError, OSError, ResponseInvalid) as exc:
        raise StreamInterrupted(f"upstream stream broke: {type(exc).__name__}") from None
