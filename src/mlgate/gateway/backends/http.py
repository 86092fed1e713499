"""Model servers over HTTP: one pooled httpx client, protocol adapters, failures classified."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
from pydantic import SecretStr

from mlgate.errors import Invalid
from mlgate.gateway.backends.adapters import Adapter
from mlgate.gateway.backends.base import InferenceRequest, InferenceResult, UpstreamStream
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


def make_client(
    *,
    max_connections: int = 200,
    max_keepalive_connections: int = 50,
    keepalive_expiry: float = 30.0,
) -> httpx.AsyncClient:
    """The one client every HTTP backend of a gateway process shares (one connection pool).

    ``trust_env`` is off: proxies and certificates come from settings, never from stray
    environment variables. Timeouts are set per call from the request's deadline.
    """
    return httpx.AsyncClient(
        limits=httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_keepalive_connections,
            keepalive_expiry=keepalive_expiry,
        ),
        timeout=httpx.Timeout(30.0),
        follow_redirects=False,
        trust_env=False,
    )


def _classify(exc: BaseException) -> UpstreamFailure:
    if isinstance(exc, UpstreamFailure):
        return exc
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return TimeoutFailure("upstream did not answer in time")
    if isinstance(exc, httpx.TransportError):
        return ConnectFailure(f"connection to upstream failed: {type(exc).__name__}")
    return ProtocolFailure(f"upstream call failed: {type(exc).__name__}")


def _raise_for_status(response: httpx.Response) -> None:
    if response.status_code >= 400:
        raise StatusFailure(
            response.status_code,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )


class HttpBackend:
    """A model server reached over HTTP with one wire protocol.

    Header values (an upstream API key, say) are kept as ``SecretStr`` and revealed only when a
    request is built; neither ``repr`` nor any failure message contains them.
    """

    __slots__ = ("_client", "_headers", "_url", "adapter", "idle_timeout", "name")

    def __init__(
        self,
        name: str,
        *,
        client: httpx.AsyncClient,
        base_url: str,
        adapter: Adapter,
        headers: Mapping[str, str | SecretStr] | None = None,
        idle_timeout: float = 30.0,
    ) -> None:
        self.name = name
        self.adapter = adapter
        self.idle_timeout = idle_timeout
        self._client = client
        self._url = base_url.rstrip("/") + adapter.path
        self._headers = {
            key: value if isinstance(value, SecretStr) else SecretStr(value)
            for key, value in (headers or {}).items()
        }

    @property
    def streams(self) -> bool:
        return self.adapter.streams

    def __repr__(self) -> str:
        return f"HttpBackend(name={self.name!r}, adapter={type(self.adapter).__name__})"

    def _revealed_headers(self) -> dict[str, str]:
        return {key: value.get_secret_value() for key, value in self._headers.items()}

    def _encode(self, request: InferenceRequest, **extra: Any) -> Any:
        try:
            body = self.adapter.encode(request)
        except (KeyError, TypeError, ValueError) as exc:
            raise Invalid.field("inputs", f"does not fit the backend protocol: {exc}") from None
        return {**body, **extra} if extra else body

    async def infer(self, request: InferenceRequest, *, timeout: float) -> InferenceResult:
        body = self._encode(request)
        try:
            async with asyncio.timeout(timeout):
                response = await self._client.post(
                    self._url,
                    json=body,
                    headers=self._revealed_headers(),
                    timeout=httpx.Timeout(timeout),
                )
        except (TimeoutError, httpx.HTTPError) as exc:
            raise _classify(exc) from None
        _raise_for_status(response)
        try:
            return InferenceResult(self.adapter.decode(response.json()))
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError):
            raise ProtocolFailure("upstream answer does not follow its protocol") from None

    async def stream(self, request: InferenceRequest, *, timeout: float) -> UpstreamStream:
        """Open a streaming call (SSE passes through untouched) and wait for its first chunk."""
        if not self.adapter.streams:
            raise ProtocolFailure(f"{type(self.adapter).__name__} does not stream")
        body = self._encode(request, stream=True)
        outgoing = self._client.build_request(
            "POST",
            self._url,
            json=body,
            headers=self._revealed_headers(),
            timeout=httpx.Timeout(timeout, read=self.idle_timeout),
        )
        response: httpx.Response | None = None
        try:
            async with asyncio.timeout(timeout):
                response = await self._client.send(outgoing, stream=True)
                _raise_for_status(response)
                chunks = response.aiter_bytes()
                first = b""
                while not first:  # ends: the stream either yields data or stops
                    first = await anext(chunks)
        except StopAsyncIteration:
            await _close(response)
            raise ProtocolFailure("upstream stream ended before its first byte") from None
        except BaseException as exc:
            await _close(response)
            if isinstance(exc, TimeoutError | httpx.HTTPError | UpstreamFailure):
                raise _classify(exc) from None
            raise
        return UpstreamStream(first, _rest(chunks), response.aclose)


async def _close(response: httpx.Response | None) -> None:
    if response is not None:
        await response.aclose()


async def _rest(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    try:
        async for chunk in chunks:
            yield chunk
    except httpx.HTTPError as exc:
        raise StreamInterrupted(f"upstream stream broke: {type(exc).__name__}") from None
