"""Registers the page, the JSON API and the runtime's lifecycle on NiceGUI's app."""

from __future__ import annotations

import logging

from nicegui import app, core, ui

from chat.errors import NotLoggedIn, Unavailable
from chat.models import Session
from chat.runtime import Runtime
from chat.webapp import install_api

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
    policy = install_api(app, service=service, settings=settings)
    core.sio.eio.cors_allowed_origins = policy.allows_environ  # the websocket's handshake
    install_styles()
    broadcaster = Broadcaster(runtime.feed)

    @ui.page("/")
    async def index() -> None:
        root = frame()
        storage = app.storage.user

        async def show_login(notice: str | None = None) -> None:
            root.clear()
            with root:
                login_form(on_join=join, notice=notice)

        async def join(name: str) -> None:
            session = await service.register(name)
            storage[_SESSION] = {"token": session.token, "name": session.name}
            await show_chat(session)

        async def show_chat(session: Session) -> None:
            root.clear()
            with root:
                view = ChatView(
                    service=service,
                    broadcaster=broadcaster,
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
