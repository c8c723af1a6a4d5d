"""Which peers may speak for a client: X-Forwarded-* headers count only when a configured proxy sent them.

Anyone can send X-Forwarded-For, -Host and -Proto. Believed from any peer, they let a client choose the address
its limits are counted by and the origin the cross-origin check compares with. So they are read only when the
TCP peer is one of ``CHAT_TRUSTED_PROXIES``, and even then only the part that trusted proxies wrote.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.datastructures import Headers

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class HeaderLines(Protocol):
    """Request headers that can list every line of a repeated header (Starlette's ``Headers``)."""

    def getlist(self, key: str) -> list[str]: ...


def _address(text: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d
    return address


def _values(headers: HeaderLines, name: str) -> list[str]:
    """Every comma-separated value of every ``name`` line, in order (RFC 9110 5.3: the lines form one list)."""
    return [part.strip() for line in headers.getlist(name) for part in line.split(",") if part.strip()]


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    """The networks whose requests may carry a client's address, host and scheme in X-Forwarded-* headers."""

    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> TrustedProxies:
        """From addresses and CIDR blocks ("127.0.0.1", "10.0.0.0/8"); raises ValueError naming a wrong entry."""
        networks = []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                raise ValueError(f"{entry.strip()!r} is not an IP address or network (like 10.0.0.0/8)") from None
        return cls(tuple(networks))

    def trusts(self, peer: str | None) -> bool:
        address = _address(peer) if peer else None
        return address is not None and any(address in network for network in self.networks)

    def client_address(self, peer: str | None, headers: HeaderLines) -> str:
        """The client's address: the peer, or behind trusted proxies the rightmost X-Forwarded-For hop they did not
        vouch for. Hops further left were written by the client itself and are never believed."""
        address = peer or "unknown"
        hops = _values(headers, "x-forwarded-for")
        while hops and self.trusts(address):
            hop = _address(hops.pop())
            if hop is None:
                break  # a trusted proxy passed on garbage: keep the last address that was really seen
            address = str(hop)
        return address

    def forwarded_host(self, peer: str | None, headers: HeaderLines) -> str | None:
        """The Host the browser used, as the trusted proxy in front reports it; None from anyone else."""
        hosts = _values(headers, "x-forwarded-host") if self.trusts(peer) else []
        return hosts[-1] if hosts else None

    def forwarded_proto(self, peer: str | None, headers: HeaderLines) -> str | None:
        """The scheme the browser used (http or https), as the trusted proxy in front reports it; None otherwise."""
        protos = _values(headers, "x-forwarded-proto") if self.trusts(peer) else []
        proto = protos[-1].lower() if protos else None
        return proto if proto in ("http", "https") else None


def peer_of(scope: Mapping[str, Any]) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


def public_origin(scope: Mapping[str, Any], proxies: TrustedProxies) -> tuple[str, str | None]:
    """The scheme ("http"/"https") and host the browser used for this request or websocket."""
    headers, peer = Headers(raw=list(scope.get("headers", []))), peer_of(scope)
    scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", "http"), scope.get("scheme", "http"))
    host_lines = headers.getlist("host")
    host = proxies.forwarded_host(peer, headers) or (host_lines[0] if host_lines else None)
    return proxies.forwarded_proto(peer, headers) or scheme, host


def secure_cookies(connection: Mapping[str, Any], proxies: TrustedProxies) -> bool:
    """Whether the browser reached us over TLS (directly or through a trusted proxy): cookies then get ``Secure``.

    ``connection`` is an ASGI scope, or a Starlette ``Request`` or ``WebSocket`` (each is a mapping of its scope).
    """
    return public_origin(connection, proxies)[0] == "https"


def address_of(connection: Mapping[str, Any], proxies: TrustedProxies) -> str:
    """The client's address for a request or websocket (an ASGI scope, or a Starlette ``Request``): what the
    limits per address count."""
    return proxies.client_address(peer_of(connection), Headers(raw=list(connection.get("headers", []))))
