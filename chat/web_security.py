"""HTTP hardening: an Origin policy for the API and the websocket (OWASP ASVS V4.4.2) and security headers."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any

from starlette.responses import Response

from .proxies import TrustedProxies, public_origin

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Vue compiles the components' templates in the browser, so scripts need 'unsafe-eval'; NiceGUI inlines its
# start-up script. Everything else is locked to this origin: no foreign scripts, images, frames or plugins.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self' ws: wss:; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
]


def add_security_headers(response: Response) -> Response:
    """The same headers on a response built outside the middleware (the 500 page), without replacing its own."""
    for name, value in HEADERS:
        response.headers.setdefault(name.decode(), value.decode())
    return response


def _header(scope: Mapping[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class OriginPolicy:
    """Same-origin requests, and those from the configured origins, are allowed; no Origin header means no browser.

    "Same origin" is the scheme and host the browser used. Behind a TLS-terminating proxy that is https:// and the
    public host while the app sees http:// and an internal one, so X-Forwarded-Proto/-Host count, but only from a
    trusted proxy: from anyone else they would let a page on any site name itself as our origin.
    """

    def __init__(self, allowed: Iterable[str], *, proxies: TrustedProxies | None = None) -> None:
        self.allowed = frozenset(o.rstrip("/").lower() for o in allowed)
        self.proxies = proxies or TrustedProxies()

    def allows(self, origin: str | None, *, scheme: str, host: str | None) -> bool:
        if origin is None:
            return True
        origin = origin.rstrip("/").lower()
        return origin in self.allowed or (host is not None and origin == f"{scheme}://{host}".lower())

    def allows_scope(self, scope: Mapping[str, Any]) -> bool:
        """The check for one HTTP request or websocket (an ASGI scope)."""
        scheme, host = public_origin(scope, self.proxies)
        return self.allows(_header(scope, b"origin"), scheme=scheme, host=host)

    def allows_environ(self, origin: str, environ: dict[str, Any]) -> bool:
        """The check for engineio's ``cors_allowed_origins`` callable (the websocket's handshake).

        engineio's environ takes its scheme from X-Forwarded-Proto whoever sent it, so the ASGI scope it carries
        is read instead.
        """
        scope = environ.get("asgi.scope")
        return scope is not None and self.allows_scope(scope)


class SecurityMiddleware:
    """Adds security headers to every HTTP response and refuses cross-origin API requests with 403."""

    def __init__(self, app: ASGIApp, *, policy: OriginPolicy, api_prefix: str = "/api") -> None:
        self.app = app
        self.policy = policy
        self.api_prefix = api_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in HEADERS if h[0] not in present)]
            await send(message)

        path: str = scope.get("path", "")
        if path.startswith(self.api_prefix + "/") and not self.policy.allows_scope(scope):
            await self._refuse(send_with_headers, _header(scope, b"origin") or "")
            return
        await self.app(scope, receive, send_with_headers)

    @staticmethod
    async def _refuse(send: Send, origin: str) -> None:
        body = json.dumps({"detail": f"Requests from {origin[:100]!r} are not allowed (cross-origin)."}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
