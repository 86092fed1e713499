"""The webhook deliverer's HTTP transport: resolves each host once, refuses internal addresses,
and connects to the very address it checked.

Checking a name and then letting the HTTP client resolve it again would leave a gap a DNS
server can use (rebinding: a public address for the check, 127.0.0.1 for the connection). So the
request is sent to the checked address, with the ``Host`` header and the TLS server name (SNI,
and so certificate verification) still those of the URL.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable

import httpx

from mlgate.netaddr import Allowlist, IPAddress, resolve

__all__ = ["AddressRefused", "PinnedTransport", "Resolver"]

Resolver = Callable[[str, int], list[IPAddress]]


class AddressRefused(Exception):
    """The URL's host is, or resolves to, an internal address the allowlist does not name."""


class PinnedTransport(httpx.BaseTransport):
    """Sends each request to its host's addresses, in turn, once ``allowed`` permits them all.

    Keep-alive is off: the connection pool is keyed by address, so a connection whose TLS was
    verified for one name could otherwise carry the next request for another name served from
    the same address (a CDN).
    """

    def __init__(
        self,
        allowed: Allowlist,
        *,
        resolver: Resolver = resolve,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self._allowed = allowed
        self._resolve = resolver
        self._inner = httpx.HTTPTransport(
            verify=verify, limits=httpx.Limits(max_keepalive_connections=0)
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        host = url.raw_host.decode("ascii")  # xn--… as registered, not the decoded name
        try:
            addresses = self._resolve(host, url.port or (443 if url.scheme == "https" else 80))
        except (OSError, UnicodeError) as error:
            raise httpx.ConnectError(f"cannot resolve the host: {error}", request=request) from None
        if not addresses:
            raise httpx.ConnectError("the host has no address", request=request)
        refusal = self._allowed.refusal(host, addresses)
        if refusal is not None:
            raise AddressRefused(refusal)
        failure: httpx.TransportError | None = None
        for address in addresses:  # all checked; the next one if one cannot be reached
            pinned = httpx.Request(
                request.method,
                url.copy_with(host=str(address)),
                headers=request.headers,  # keeps Host: the URL's name (and port)
                stream=request.stream,
                extensions={**request.extensions, "sni_hostname": host},
            )
            try:
                return self._inner.handle_request(pinned)
            except (httpx.ConnectError, httpx.ConnectTimeout) as error:  # nothing was sent yet
                failure = error
        assert failure is not None
        raise failure

    def close(self) -> None:
        self._inner.close()
