"""Trusted proxies: whose X-Forwarded-* headers count, which address is the client's, and when cookies are Secure."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers
from starlette.requests import Request

from chat.proxies import TrustedProxies, secure_cookies

PROXIES = TrustedProxies.parse(["127.0.0.1", "10.0.0.0/8", "fd00::/8"])


def lines(*pairs: tuple[str, str]) -> Headers:
    return Headers(raw=[(k.encode(), v.encode()) for k, v in pairs])


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client"),
    [
        ("203.0.113.9", "", "203.0.113.9"),  # no proxy in front
        ("203.0.113.9", "1.2.3.4", "203.0.113.9"),  # a client naming itself: not believed
        ("127.0.0.1", "", "127.0.0.1"),  # a trusted proxy that said nothing
        ("127.0.0.1", "198.51.100.7", "198.51.100.7"),  # nginx in front, overwriting the header
        ("10.0.0.5", "1.2.3.4, 198.51.100.7", "198.51.100.7"),  # the client's own claim (leftmost) is skipped
        ("10.0.0.5", "198.51.100.7, 10.0.0.9", "198.51.100.7"),  # two trusted proxies in a row
        ("10.0.0.5", "10.0.0.8, 10.0.0.9", "10.0.0.8"),  # only trusted addresses: the furthest one
        ("10.0.0.5", "1.2.3.4, not-an-ip", "10.0.0.5"),  # garbage stops the walk at the last real address
        ("::ffff:127.0.0.1", "198.51.100.7", "198.51.100.7"),  # IPv4 seen through a dual-stack socket
        ("fd00::1", "2001:db8::5", "2001:db8::5"),
        (None, "1.2.3.4", "unknown"),
    ],
)
def test_the_client_address_is_the_rightmost_hop_no_trusted_proxy_vouches_for(
    peer: str | None, forwarded_for: str, client: str
) -> None:
    headers = lines(("x-forwarded-for", forwarded_for)) if forwarded_for else lines()
    assert PROXIES.client_address(peer, headers) == client


def test_repeated_forwarded_for_lines_form_one_list() -> None:
    headers = lines(("x-forwarded-for", "1.2.3.4"), ("x-forwarded-for", "198.51.100.7"))
    assert PROXIES.client_address("127.0.0.1", headers) == "198.51.100.7"


def test_nothing_is_trusted_by_default() -> None:
    headers = lines(("x-forwarded-for", "1.2.3.4"), ("x-forwarded-host", "evil"), ("x-forwarded-proto", "https"))
    nobody = TrustedProxies()
    assert nobody.client_address("127.0.0.1", headers) == "127.0.0.1"
    assert nobody.forwarded_host("127.0.0.1", headers) is None
    assert nobody.forwarded_proto("127.0.0.1", headers) is None


def test_forwarded_host_and_proto_come_only_from_a_trusted_peer() -> None:
    headers = lines(("x-forwarded-host", "evil.example, chat.example"), ("x-forwarded-proto", "http, HTTPS"))
    assert PROXIES.forwarded_host("10.1.2.3", headers) == "chat.example"  # what the proxy next to us wrote
    assert PROXIES.forwarded_proto("10.1.2.3", headers) == "https"
    assert PROXIES.forwarded_host("203.0.113.9", headers) is None
    assert PROXIES.forwarded_proto("203.0.113.9", headers) is None
    assert PROXIES.forwarded_proto("10.1.2.3", lines(("x-forwarded-proto", "gopher"))) is None


def request(*, scheme: str, peer: str, proto: str | None = None) -> Request:
    headers = [(b"host", b"chat.example")]
    if proto is not None:
        headers.append((b"x-forwarded-proto", proto.encode()))
    return Request({"type": "http", "scheme": scheme, "client": (peer, 5000), "headers": headers})


def test_cookies_are_secure_over_tls_directly_or_through_a_trusted_proxy() -> None:
    assert secure_cookies(request(scheme="https", peer="203.0.113.9"), PROXIES)
    assert secure_cookies(request(scheme="http", peer="127.0.0.1", proto="https"), PROXIES)
    assert not secure_cookies(request(scheme="http", peer="127.0.0.1", proto="http"), PROXIES)
    assert not secure_cookies(request(scheme="http", peer="203.0.113.9", proto="https"), PROXIES)  # forged
    assert not secure_cookies(request(scheme="http", peer="203.0.113.9"), PROXIES)
    assert secure_cookies(request(scheme="https", peer="203.0.113.9").scope, PROXIES)  # a bare scope works too
    wss = {"type": "websocket", "scheme": "wss", "client": ("203.0.113.9", 1), "headers": []}
    assert secure_cookies(wss, PROXIES)
