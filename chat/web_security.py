"""HTTP hardening: an Origin policy for the API and the websocket (OWASP ASVS V4.4.2) and security headers."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

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
]
# the interactive API docs load Swagger UI from a CDN; they get the other headers but not the CSP
_NO_CSP_PATHS = ("/docs", "/redoc")


class OriginPolicy:
    """Same-origin requests, and those from the configured origins, are allowed; no Origin header means no browser."""

    def __init__(self, allowed: Iterable[str]) -> None:
        self.allowed = frozenset(o.rstrip("/").lower() for o in allowed)

    def allows(self, origin: str | None, *, scheme: str, host: str | None, forwarded: Iterable[str] = ()) -> bool:
        if origin is None:
            return True
        origin = origin.rstrip("/").lower()
        if origin in self.allowed:
            return True
        own = {f"{scheme}://{host}".lower()} if host else set()
        # behind a TLS-terminating proxy the browser's origin is https:// while the app sees http://
        own.update(f"{s}://{host}".lower() for s in forwarded if host)
        return origin in own

    def allows_environ(self, origin: str, environ: dict[str, Any]) -> bool:
        """The check for engineio's ``cors_allowed_origins`` callable (the websocket's handshake)."""
        forwarded = [p.strip() for p in environ.get("HTTP_X_FORWARDED_PROTO", "").split(",") if p.strip()]
        host = environ.get("HTTP_X_FORWARDED_HOST") or environ.get("HTTP_HOST")
        return self.allows(origin, scheme=environ.get("wsgi.url_scheme", "http"), host=host, forwarded=forwarded)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


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
        path: str = scope.get("path", "")
        if path.startswith(self.api_prefix + "/") and not self._same_or_allowed(scope):
            await self._refuse(send, _header(scope, b"origin") or "")
            return
        extra = list(HEADERS)
        if not path.startswith(_NO_CSP_PATHS):
            extra.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in extra if h[0] not in present)]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _same_or_allowed(self, scope: Scope) -> bool:
        forwarded = [p.strip() for p in (_header(scope, b"x-forwarded-proto") or "").split(",") if p.strip()]
        host = _header(scope, b"x-forwarded-host") or _header(scope, b"host")
        return self.policy.allows(
            _header(scope, b"origin"), scheme=scope.get("scheme", "http"), host=host, forwarded=forwarded
        )

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
