"""Request bodies the API reads: JSON in UTF-8 only, and at most ``MAX_BODY_BYTES``.

Left to FastAPI, a form-encoded body fails validation with "Input should be a valid dictionary" (it never was
JSON), a body in Latin-1 or UTF-16 is either decoded by guesswork or answered "There was an error parsing the
body", and the size is unbounded. These answers say what to send instead.
"""

from __future__ import annotations

import email.message
import json
from collections.abc import Awaitable, Callable, Coroutine, MutableMapping
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

MAX_BODY_BYTES = 64 * 1024

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyTooLarge(HTTPException):
    """Raised while the body arrives; an HTTPException, so FastAPI's own body parsing passes it on as a 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than {limit // 1024} KiB. Send less.")


class BodyLimit:
    """Refuses request bodies over ``limit`` bytes under ``prefix`` with 413, before anything parses them.

    The declared Content-Length is checked first; a chunked body has none, so its bytes are counted as they arrive
    and the request is cut off at the first chunk past the limit. Only the API is bounded here: NiceGUI's pages take
    no bodies, and its Socket.IO long-polling has engineio's own bound (max_http_buffer_size).
    """

    def __init__(self, app: ASGIApp, *, limit: int = MAX_BODY_BYTES, prefix: str = "/api/") -> None:
        self.app = app
        self.limit = limit
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope.get("headers", []) if k == b"content-length"), None)
        if declared is not None and declared.strip().isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send, BodyTooLarge(self.limit))
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge as exc:  # normally answered inside, by FastAPI; this catches any reader that is not
            if started:
                raise
            await self._refuse(scope, receive, send, exc)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, exc: BodyTooLarge) -> None:
        await JSONResponse({"detail": exc.detail}, status_code=413)(scope, receive, send)


def _is_json(content_type: str) -> bool:
    """application/json or a +json type, in UTF-8 (RFC 8259 allows no other charset)."""
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    if message.get_content_maintype() != "application" or not (subtype == "json" or subtype.endswith("+json")):
        return False
    charset = message.get_param("charset")
    return charset is None or str(charset).lower() in ("utf-8", "utf8")


async def check_json_body(request: Request) -> None:
    """Refuse a body that is not UTF-8 JSON: 415 for another media type, 400 for bytes that are not JSON."""
    body = await request.body()  # bounded by BodyLimit; FastAPI parses this cached copy again
    if not body:
        return  # FastAPI's validation answers that the fields are missing
    content_type = request.headers.get("content-type", "")
    if not _is_json(content_type):
        raise HTTPException(
            415,
            f"Send the body as JSON (Content-Type: application/json), not {content_type[:60] or 'without a type'}.",
        )
    if body.startswith(b"\xef\xbb\xbf"):
        raise HTTPException(400, "The request body starts with a byte order mark; send UTF-8 without one.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(400, f"The request body is not valid UTF-8 (at byte {exc.start}).") from None
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise HTTPException(400, f"The request body is not valid JSON: {exc.msg} (character {exc.pos}).") from None


class JsonBodyRoute(APIRoute):
    """An API route whose body, if it has one, is checked by ``check_json_body`` before FastAPI parses it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def checked(request: Request) -> Response:
            await check_json_body(request)
            return await handler(request)

        return checked
