"""Registers the page, the JSON API and the runtime's lifecycle on NiceGUI's app."""

from __future__ import annotations

import logging

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from nicegui import app, core, ui

from chat.api import build_router, chat_error_handler, validation_error_handler
from chat.errors import ChatError, NotLoggedIn, Unavailable
from chat.models import Session
from chat.monitoring import build_monitoring_router
from chat.runtime import Runtime
from chat.web_security import OriginPolicy, SecurityMiddleware

from .broadcast import Broadcaster
from .chat_view import ChatView
from .frame import frame, install_styles
from .login import login_form

log = logging.getLogger(__name__)

_SESSION = "session"


def install(runtime: Runtime) -> None:
    """Wire the runtime into NiceGUI: start and stop with the app, serve the API and the chat page."""
    service = runtime.service
    settings = runtime.settings
    app.on_startup(runtime.start)
    app.on_shutdown(runtime.stop)
    app.include_router(build_router(service))
    metrics = runtime.metrics
    app.include_router(
        build_monitoring_router(health=runtime.health, metrics=metrics, metrics_public=settings.metrics_public)
    )

    async def counted_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ChatError)
        metrics.refused(exc)
        return await chat_error_handler(request, exc)

    app.add_exception_handler(ChatError, counted_error)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    policy = OriginPolicy(settings.allowed_origins)
    app.add_middleware(SecurityMiddleware, policy=policy)
    core.sio.eio.cors_allowed_origins = policy.allows_environ  # the websocket's handshake
    install_styles()
    broadcaster = Broadcaster(runtime.feed, metrics=metrics)

    @ui.page("/")
    async def index() -> None:
        root = frame()
        storage = app.storage.user

        async def show_login(notice: str | None = None) -> None:
            root.clear()
            with root:
                login_form(on_join=join, notice=notice)

        async def join(name: str) -> None:
            try:
                session = await service.register(name)
            except ChatError as exc:  # the login form shows it
                metrics.refused(exc)
                raise
            storage[_SESSION] = {"token": session.token, "name": session.name}
            await show_chat(session)

        async def show_chat(session: Session) -> None:
            root.clear()
            with root:
                view = ChatView(
                    service=service,
                    broadcaster=broadcaster,
                    metrics=metrics,
                    session=session,
                    view_limit=settings.view_max_messages,
                    on_logout=lambda: logout(session),
                    on_session_end=lambda: show_login("You have logged out."),
                )
            await view.start()

        async def logout(session: Session) -> None:
            try:
                await service.logout(session)
            except Unavailable as exc:
                ui.notify(exc.message, type="warning")
                return
            storage.pop(_SESSION, None)
            # the feed tells this tab and every other tab of the session; each shows the login form

        stored = storage.get(_SESSION)
        if not isinstance(stored, dict):
            await show_login()
            return
        try:
            session = await service.resume(str(stored.get("token", "")), name=str(stored.get("name", "")))
        except NotLoggedIn as exc:
            storage.pop(_SESSION, None)
            await show_login(exc.message)
            return
        except Unavailable as exc:
            await show_login(exc.message)
            return
        await show_chat(session)
