"""What a request tells about its client: where it comes from and whether it came over TLS."""

from __future__ import annotations

from starlette.requests import HTTPConnection


def client_address(connection: HTTPConnection) -> str | None:
    """The client's network address, which limits joins and posts per address (None when unknown)."""
    return connection.client.host if connection.client is not None else None


def served_over_tls(connection: HTTPConnection) -> bool:
    """Whether the browser reached us over https, so cookies get ``Secure``."""
    return connection.url.scheme == "https"
