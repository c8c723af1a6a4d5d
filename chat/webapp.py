"""The HTTP edge on one FastAPI app: the JSON API, its error answers, its documentation and the security middleware.

NiceGUI's app and the tests' bare FastAPI apps are wired by the same ``install_api``, so what the tests check is
what the product serves.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException
from starlette.routing import Match

from .api import build_router, chat_error_handler, validation_error_handler
from .api_docs import install_docs
from .cookies import SessionCookies
from .errors import ChatError
from .json_body import BodyLimit
from .metrics import Metrics
from .service import ChatService
from .settings import Settings
from .web_security import OriginPolicy, SecurityMiddleware, add_security_headers

API_PREFIX = "/api"
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
Handler = Callable[[Request, Exception], Response | Awaitable[Response]]


def _is_api(request: Request) -> bool:
    return request.url.path == API_PREFIX or request.url.path.startswith(API_PREFIX + "/")


async def _answer(handler: Handler, request: Request, exc: Exception) -> Response:
    response = handler(request, exc)
    return await response if inspect.isawaitable(response) else response


def _original(app: FastAPI, key: int | type[Exception]) -> Handler | None:
    """The app's own handler for ``key``; installed twice on one app (the UI tests), ours wraps the original once."""
    handler = app.exception_handlers.get(key)
    return getattr(handler, "__wrapped__", handler)


def _not_found(pages: Handler | None) -> Handler:
    """Under /api a JSON 404 for clients that parse JSON; elsewhere the app's own page (NiceGUI's)."""

    async def not_found(request: Request, exc: Exception) -> Response:
        if _is_api(request) or pages is None:
            assert isinstance(exc, HTTPException)
            detail = exc.detail if exc.detail != "Not Found" else f"There is no {request.url.path[:100]} in this API."
            return JSONResponse({"detail": f"{detail} The routes are listed at /docs."}, status_code=404)
        return await _answer(pages, request, exc)

    not_found.__wrapped__ = pages  # type: ignore[attr-defined]
    return not_found


async def _method_not_allowed(request: Request, _exc: Exception) -> Response:
    """JSON, with every method the path takes: Starlette's Allow names only those of the first route that matched."""
    routes = request.app.router.routes
    allowed = ", ".join(
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)
    )
    detail = f"{request.method[:10]} is not allowed on {request.url.path[:100]}; use {allowed or 'another method'}."
    return JSONResponse({"detail": detail}, status_code=405, headers={"Allow": allowed})


def _server_error(pages: Handler | None) -> Handler:
    """A 500 with the security headers, which the middleware cannot add: Starlette builds this answer outside it.

    API clients get JSON; pages keep the app's own error page (NiceGUI's), which re-raises for anything else.
    The traceback is logged once, by the server, after this answer.
    """

    async def server_error(request: Request, exc: Exception) -> Response:
        response: Response | None = None
        if _is_api(request):
            detail = "Something went wrong on our side. It has been logged; try again later."
            response = JSONResponse({"detail": detail}, status_code=500)
        elif pages is not None:
            try:
                response = await _answer(pages, request, exc)
            except Exception:  # the page handler hands back what is not a page
                response = None
        return add_security_headers(response or PlainTextResponse("Internal Server Error", status_code=500))

    server_error.__wrapped__ = pages  # type: ignore[attr-defined]
    return server_error


def install_api(
    app: FastAPI, *, service: ChatService, settings: Settings, cookies: SessionCookies, metrics: Metrics | None = None
) -> OriginPolicy:
    """Serve the API under /api with its error answers, /docs, and the Origin check and security headers.

    Every refusal is counted in ``metrics`` by kind. Returns the Origin policy, for the websocket's handshake.
    """
    app.include_router(build_router(service, cookies=cookies, proxies=settings.trusted_proxies))
    counted = metrics or Metrics()

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ChatError)
        counted.refused(exc)
        return await chat_error_handler(request, exc)

    app.add_exception_handler(ChatError, refused)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(404, _not_found(_original(app, 404)))
    app.add_exception_handler(405, _method_not_allowed)
    app.add_exception_handler(Exception, _server_error(_original(app, Exception)))
    install_docs(app, title="sinchchat API", summary="Join, read and post to the conversation.", version="1")
    policy = OriginPolicy(settings.allowed_origins, proxies=settings.trusted_proxies)
    app.add_middleware(BodyLimit, prefix=API_PREFIX + "/")
    app.add_middleware(SecurityMiddleware, policy=policy, api_prefix=API_PREFIX)  # added last: outermost
    return policy
