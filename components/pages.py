"""The chat page: the login form, or the chat view of the session the browser's cookie names."""

from __future__ import annotations

import json
import logging

from fastapi import Request
from nicegui import Client, ui

from chat.cookies import COOKIE_NAME, SessionCookies
from chat.errors import ChatError, NotLoggedIn, Unavailable
from chat.metrics import Metrics
from chat.models import Session
from chat.proxies import TrustedProxies, address_of
from chat.service import ChatService

from .broadcast import Broadcaster
from .chat_view import ChatView
from .frame import frame
from .login import login_form

log = logging.getLogger(__name__)


def _cookie_call(method: str, *, token: str | None = None, name: str | None = None) -> str:
    """Script for the browser: ask the API to set (POST) or clear (DELETE) its sign-in cookie; yields the status.

    Joining happens over the websocket, where no cookie can be set; this HTTP call sets it. Without a token the
    POST renews the cookie the browser already has.
    """
    options: dict[str, object] = {"method": method, "credentials": "same-origin"}
    if token is not None:
        options["headers"] = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        options["body"] = json.dumps({"name": name})
    return f"fetch('/api/session/cookie', {json.dumps(options)}).then(r => r.status)"


async def _cookie(client: Client, method: str, *, token: str | None = None, name: str | None = None) -> None:
    """Have the browser set or clear its cookie, and wait for it: a reload right after must find it."""
    try:
        status = await client.run_javascript(_cookie_call(method, token=token, name=name), timeout=5)
    except TimeoutError:
        status = None
    if status != 204:  # this tab keeps working; only a reload would ask to join again
        log.info("the browser could not %s its sign-in cookie (%s)", "set" if method == "POST" else "clear", status)


def chat_page(
    *,
    service: ChatService,
    broadcaster: Broadcaster,
    cookies: SessionCookies,
    metrics: Metrics,
    trusted_proxies: TrustedProxies,
    view_limit: int,
) -> None:
    """Serve the chat page at ``/``; ``view_limit`` is how many messages one tab holds at most."""

    @ui.page("/")
    async def index(request: Request) -> None:
        root = frame()
        client = ui.context.client  # the page's; the element an event came from may be gone when it is used
        address = address_of(request, trusted_proxies)

        async def show_login(notice: str | None = None) -> None:
            root.clear()
            with root:
                login_form(on_join=join, notice=notice)

        async def join(name: str) -> None:
            try:
                session = await service.register(name, address=address)
            except ChatError as exc:  # the login form shows it
                metrics.refused(exc)
                raise
            await show_chat(session)
            await _cookie(client, "POST", token=session.token, name=session.name)

        async def show_chat(session: Session) -> None:
            root.clear()
            with root:
                view = ChatView(
                    service=service,
                    broadcaster=broadcaster,
                    metrics=metrics,
                    session=session,
                    view_limit=view_limit,
                    on_logout=lambda: logout(session),
                    on_session_end=lambda: show_login("You have logged out."),
                    address=address,
                )
            await view.start()

        async def logout(session: Session) -> None:
            try:
                await service.logout(session)
            except Unavailable as exc:
                ui.notify(exc.message, type="warning")
                return
            await _cookie(client, "DELETE")
            # the feed tells this tab and every other tab of the session; each shows the login form

        # a forged or unreadable cookie is as good as none; one of an ended session says so
        signed = cookies.read(request.cookies.get(COOKIE_NAME))
        if signed is None:
            await show_login()
            return
        try:
            session = await service.resume(signed.token, name=signed.name)
        except (NotLoggedIn, Unavailable) as exc:
            await show_login(exc.message)
            return
        ui.add_body_html(f"<script>{_cookie_call('POST')}</script>")  # the cookie lives as long as the session
        await show_chat(session)
