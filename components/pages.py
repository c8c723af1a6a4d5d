"""The chat pages, ``/`` (the lobby) and ``/r/<room>``: the login form, or the room's chat view for the session the
browser's cookie names."""

from __future__ import annotations

import json
import logging

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import Client, ui

from chat.cookies import COOKIE_NAME, SessionCookies
from chat.errors import ChatError, NotFound, NotLoggedIn, Unavailable
from chat.metrics import Metrics
from chat.models import Session
from chat.proxies import TrustedProxies, address_of
from chat.rooms import Room, room_id
from chat.service import ChatService

from .broadcast import Broadcaster
from .chat_view import ChatView, room_list
from .frame import frame, notice
from .login import login_form

log = logging.getLogger(__name__)

# how long a page may take to read what it shows (session, room list, history) before NiceGUI gives up on it. Its
# default of 3 s is exceeded in a reconnect storm (a process restarted and its tabs reload on the survivors), and
# then the tab gets NiceGUI's "took longer than the response_timeout" page for good; storage that does not answer
# ends in our own message instead, once one DynamoDB call's timeouts and retries (about 16 s) run out
PAGE_BUILD_SECONDS = 30.0


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
    """Serve the lobby at ``/`` and every room at ``/r/<room>``; ``view_limit`` is how many messages one tab holds."""

    @ui.page("/", response_timeout=PAGE_BUILD_SECONDS)
    async def lobby(request: Request) -> None:
        await room_page(request, service.lobby.id)

    @ui.page("/r/{path_id}", response_timeout=PAGE_BUILD_SECONDS)
    async def room(request: Request, path_id: str) -> RedirectResponse | None:
        canonical = room_id(path_id)  # /r/General is the room "general", /r/lobby the lobby at /
        if canonical != path_id or canonical == service.lobby.id:
            return RedirectResponse(Room(id=canonical, name="").path(service.lobby.id), status_code=308)
        await room_page(request, path_id)
        return None

    async def room_page(request: Request, room_id: str) -> None:
        root = frame()
        client = ui.context.client  # the page's; the element an event came from may be gone when it is used
        address = address_of(request, trusted_proxies)
        try:
            shown = await service.room(room_id)
        except NotFound:
            shown = None
        except Unavailable as exc:
            with root:
                ui.label(exc.message).classes("m-auto text-amber-700").mark("unavailable")
            return
        if shown is None:
            client.status_code = 404  # the page says so, and so does the answer (link checkers, crawlers)
            ui.page_title("No such room · sinchchat")
            with root:
                detail = "Open the lobby and make it with New room."
                notice("There is no room with that name.", detail, link="Go to the lobby", href="/").mark("no-room")
            return
        ui.page_title("sinchchat" if shown.id == service.lobby.id else f"{shown.name} · sinchchat")

        async def show_login(notice: str | None = None) -> None:
            root.clear()
            root.classes(remove="sc-chat")
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
            assert shown is not None
            listed = await room_list(service, session, shown)
            root.clear()
            root.classes(add="sc-chat")
            with root:
                view = ChatView(
                    service=service,
                    broadcaster=broadcaster,
                    metrics=metrics,
                    session=session,
                    room=shown,
                    listed=listed,
                    view_limit=view_limit,
                    on_logout=lambda: logout(session),
                    on_session_end=lambda: show_login("You have logged out."),
                    on_create_room=lambda name: create_room(session, view, name),
                    address=address,
                )
            await view.start()

        async def create_room(session: Session, view: ChatView, name: str) -> None:
            try:
                made, _ = await service.create_room(session, name)
            except NotLoggedIn:
                await show_login("Your session has ended. Join again.")
                return
            except ChatError as exc:
                metrics.refused(exc)
                view.panel.room_refused(exc.message)
                return
            ui.navigate.to(made.path(service.lobby.id))

        async def logout(session: Session) -> None:
            try:
                await service.logout(session)
            except Unavailable as exc:
                ui.notify(exc.message, type="warning")
                return
            await _cookie(client, "DELETE")
            # the hub tells this tab and every other tab of the session, here and elsewhere; each shows the login form

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
