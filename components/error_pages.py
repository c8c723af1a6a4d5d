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

from .frame import frame

log = logging.getLogger(__name__)


def _card(title: str, detail: str, *, link: str, href: str, page_title: str) -> None:
    with frame(page_title), ui.card().classes("m-auto w-80"):
        ui.label(title).classes("text-lg font-semibold")
        ui.label(detail).classes("text-slate-500")
        ui.link(link, href)


def _is_page(request: Request, app: FastAPI) -> bool:
    """A request for a page or for no route at all (not an endpoint of NiceGUI's files or of the API)."""
    endpoint = request.scope.get("endpoint")
    return endpoint is None or endpoint is app or bool(request.scope.get("nicegui_page_path"))


def _page(request: Request, status: int, *, title: str, build: tuple[str, str, str, str]) -> Response:
    heading, detail, link, href = build
    with Client(ui.page(""), request=request) as client:
        _card(heading, detail, link=link, href=href, page_title=f"{title} · sinchchat")
    return client.build_response(request, status)


def install(app: FastAPI) -> None:
    """Make these the app's page answers for 404 and for a page that raised (install before the API's handlers)."""

    async def not_found(request: Request, exc: Exception) -> Response:
        if not _is_page(request, app) and isinstance(exc, HTTPException):
            return await http_exception_handler(request, exc)  # e.g. a missing script: JSON, as NiceGUI answers
        path = request.url.path[:100]
        build = ("This page doesn't exist.", f"There is nothing at {path}.", "Go to the lobby", "/")
        return _page(request, 404, title="Not found", build=build)

    async def failed(request: Request, exc: Exception) -> Response:
        if not request.scope.get("nicegui_page_path"):
            raise exc  # not a page: the server's plain 500
        log.error("a page failed: %s", request.url.path[:100], exc_info=exc)
        detail = "It has been logged. Reload the page to try again."
        again = "/" + request.url.path.lstrip("/")  # never //host: a link off this site
        build = ("Something went wrong on our side.", detail, "Reload", again)
        return _page(request, 500, title="Error", build=build)

    app.add_exception_handler(404, not_found)
    app.add_exception_handler(Exception, failed)
