"""What a reader sees at an address with no page, or when a page fails: plain words and a way back, never the error.

NiceGUI's own pages print the exception (``HTTPException: 404: Not Found``, ``KeyError: 'x'``). These replace
them as the app's 404 and 500 handlers for pages; ``chat.webapp.install_api`` keeps JSON answers for the API.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import Response
from nicegui import Client, ui
from starlette.exceptions import HTTPException

from .frame import frame, notice

log = logging.getLogger(__name__)


def _is_page(request: Request, app: FastAPI) -> bool:
    """A request for a page or for no route at all (not an endpoint of NiceGUI's files or of the API)."""
    endpoint = request.scope.get("endpoint")
    return endpoint is None or endpoint is app or bool(request.scope.get("nicegui_page_path"))


def _page(request: Request, status: int, *, title: str, heading: str, detail: str, link: str, href: str) -> Response:
    with Client(ui.page(""), request=request) as client, frame(f"{title} · sinchchat"):
        notice(heading, detail, link=link, href=href)
    return client.build_response(request, status)


def install(app: FastAPI) -> None:
    """Make these the app's page answers for 404 and for a page that raised (install before the API's handlers)."""

    async def not_found(request: Request, exc: Exception) -> Response:
        if not _is_page(request, app) and isinstance(exc, HTTPException):
            return await http_exception_handler(request, exc)  # e.g. a missing script: JSON, as NiceGUI answers
        detail = f"There is nothing at {request.url.path[:100]}."
        heading = "This page doesn't exist."
        return _page(request, 404, title="Not found", heading=heading, detail=detail, link="Go to the lobby", href="/")

    async def failed(request: Request, exc: Exception) -> Response:
        if not request.scope.get("nicegui_page_path"):
            raise exc  # not a page: the server's plain 500
        log.error("a page failed: %s", request.url.path[:100], exc_info=exc)
        detail = "It has been logged. Reload the page to try again."
        again = "/" + request.url.path.lstrip("/")  # never //host: a link off this site
        heading = "Something went wrong on our side."
        return _page(request, 500, title="Error", heading=heading, detail=detail, link="Reload", href=again)

    app.add_exception_handler(404, not_found)
    app.add_exception_handler(Exception, failed)
