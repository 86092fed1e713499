"""Where mlgate's own outbound requests may go: a URL's host without credentials, which
addresses are internal (loopback, private, link-local, …), and the operator's allowlist of them.

The webhook deliverer sends POSTs to URLs that admins type in; left unchecked they reach the
metadata service at 169.254.169.254, a database on 127.0.0.1 or anything on the private
network (SSRF). ``Allowlist.refusal`` says why an address may not be reached, or ``None``.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = [
    "Allowlist",
    "IPAddress",
    "host_and_port",
    "internal_kind",
    "resolve",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# A label may hold "_": Docker Compose service names do.
_HOST_NAME = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)(\.(?!-)[a-z0-9_-]{1,63}(?<!-))*$")
_SETTING = "MLGATE_WEBHOOK_ALLOWED_HOSTS"


def host_and_port(url: str) -> str:
    """A URL's ``host[:port]`` as written, never the ``user:password@`` before it.

    Not parsed further: a port past 65535 must not turn a page or an audit entry into an error.
    """
    return urlsplit(url).netloc.rpartition("@")[2]


def internal_kind(address: IPAddress) -> str | None:
    """What kind of non-public address this is ("loopback", "private", …), or ``None``."""
    if isinstance(address, ipaddress.IPv6Address):
        # The same IPv4 address written as IPv6: ::ffff:127.0.0.1 (mapped; Python 3.11 calls it
        # neither loopback nor private), 2002:7f00:1:: (6to4), 64:ff9b::7f00:1 (NAT64).
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return internal_kind(embedded)
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_unspecified:
        return "unspecified"
    if address.is_multicast:
        return "multicast"
    if address.is_private or getattr(address, "is_site_local", False):
        return "private"
    if address.is_reserved or not address.is_global:  # 100.64/10 (CGNAT), 240/4, ::/8, …
        return "non-public"
    return None


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (a literal address resolves to itself)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))


@dataclass(frozen=True, slots=True)
class Allowlist:
    """Internal hosts the operator lets webhooks reach; empty, the default, allows none.

    Parsed from ``MLGATE_WEBHOOK_ALLOWED_HOSTS``: comma-separated addresses or networks
    (``10.1.2.3``, ``10.0.0.0/8``, ``fd00::/8``), host names (``hooks.internal``: whatever
    it resolves to), or ``*`` alone (every address, as before the check existed).
    """

    networks: tuple[IPNetwork, ...] = ()
    names: frozenset[str] = frozenset()
    everything: bool = False

    @classmethod
    def parse(cls, spec: str) -> Allowlist:
        items = [item.strip().lower() for item in spec.split(",") if item.strip()]
        if items == ["*"]:
            return cls(everything=True)
        networks: list[IPNetwork] = []
        names: set[str] = set()
        for item in items:
            try:
                networks.append(ipaddress.ip_network(item))
                continue
            except ValueError:
                pass
            if not _HOST_NAME.match(item.rstrip(".")):
                raise ValueError(
                    f"{item!r} is not a host name, an address or a network (e.g. hooks.internal,"
                    " 10.0.0.5 or 10.0.0.0/8, no host bits after the /), and * may only stand alone"
                )
            names.add(item.rstrip("."))
        return cls(networks=tuple(networks), names=frozenset(names))

    def _permits_name(self, host: str) -> bool:
        return self.everything or host.lower().rstrip(".") in self.names

    def refusal(self, host: str, addresses: Sequence[IPAddress]) -> str | None:
        """Why ``host``, resolved to ``addresses``, may not be reached; ``None`` if it may.

        Every address must pass, not just one: the caller connects to one it checked.
        """
        if self._permits_name(host):
            return None
        for address in addresses:
            plain = getattr(address, "ipv4_mapped", None) or address
            kind = internal_kind(address)
            if kind is not None and not any(plain in network for network in self.networks):
                where = (
                    f"{address} is a {kind} address"
                    if str(address) == host
                    else f"{host} resolves to {address}, a {kind} address"
                )
                return f"{where}; list it in {_SETTING} to allow it"
        return None

    def url_refusal(self, url: str) -> str | None:
        """Why a URL may not be registered, judged from its host alone (no DNS lookup: names are
        resolved and checked when each delivery is sent): internal literal addresses and
        ``localhost`` names are refused here, so the mistake shows when it is made."""
        host = (urlsplit(url).hostname or "").rstrip(".")
        if self._permits_name(host):
            return None
        if host == "localhost" or host.endswith(".localhost"):
            return f"{host} is this machine; list it in {_SETTING} to allow it"
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return None
        return self.refusal(host, [address])
