"""The chat view: who is here, the message list with Load more, and the composer."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import background_tasks, ui

from chat.errors import ChatError, NotLoggedIn
from chat.models import Message, Session
from chat.service import ChatService

from .broadcast import Broadcaster
from .composer import composer
from .message_list import MessageList

log = logging.getLogger(__name__)


class ChatView:
    """One browser tab's view of the conversation, fed by the process's RoomFeed."""

    def __init__(
        self,
        *,
        service: ChatService,
        broadcaster: Broadcaster,
        session: Session,
        view_limit: int,
        on_logout: Callable[[], Awaitable[None]],
        on_session_end: Callable[[], Awaitable[None]],
    ) -> None:
        self._service = service
        self._broadcaster = broadcaster
        self._session = session
        self._on_session_end = on_session_end
        self._pending: dict[str, Message] = {}
        self._unsubscribe: list[Callable[[], None]] = []

        with ui.row().classes("sc-bar items-center justify-between no-wrap"):
            ui.label("sinchchat").classes("text-lg font-semibold")
            with ui.row().classes("items-center gap-3"):
                ui.label(session.name).classes("text-slate-600").mark("me")
                ui.button("Log out", on_click=on_logout).props("flat dense").mark("logout")
        self.list = MessageList(me=session.name_key, limit=view_limit).mark("messages")
        with self.list:
            self.load_more = ui.button("Load more", on_click=self._load_more).props("flat").mark("load-more")
            self.beginning = ui.label("This is the start of the conversation.").classes("text-slate-400 text-sm")
        self.list.on("retry", lambda e: self._retry(str(e.args)))
        self.box = composer(max_length=service.limits.max_message_length, on_send=self._send)

    async def start(self) -> None:
        """Load the newest page, then follow the room; call before the page is sent."""
        page = await self._service.history()
        self.list.show(page.messages)
        self._set_more(page.cursor is not None)
        client = self.list.client
        self._broadcaster.register(client.id, self)
        self._unsubscribe = [
            lambda: self._broadcaster.unregister(client.id),
            self._service.feed.watch_session(self._session.token, self._session_ended),
        ]
        client.on_delete(self.close)
        await self._catch_up()  # anything stored between the page read and the registration

    def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []

    # -- reading ---------------------------------------------------------------------------------------
    def _set_more(self, more: bool) -> None:
        self.load_more.set_visibility(more)
        self.beginning.set_visibility(not more)

    def accept(self, payload: list[dict[str, Any]]) -> None:
        """New stored messages for the model (the Broadcaster sends them to the browser)."""
        if self.list.accept(payload) and not self.load_more.visible:
            self._set_more(True)  # the oldest were let go to keep the view small; Load more brings them back

    def after(self, key: str | None) -> list[dict[str, Any]]:
        return self.list.after(key)

    async def _catch_up(self) -> None:
        newest = self.list.newest_key
        if newest is None:
            return
        try:
            missed = await self._service.since(newest)
        except ChatError as exc:
            log.warning("catch-up for a view failed: %s", exc)
            return
        self.accept([m.to_json() for m in missed])

    async def _load_more(self) -> None:
        self.load_more.disable()
        try:
            page = await self._service.history(before=self.list.oldest_key)
        except ChatError as exc:
            ui.notify(exc.message, type="warning")
            return
        finally:
            self.load_more.enable()
        self.list.prepend(page.messages)
        self._set_more(page.cursor is not None)

    # -- writing ---------------------------------------------------------------------------------------
    async def _send(self, text: str) -> None:
        message = self._service.prepare(self._session, text)  # InvalidText: refused, text stays in the box
        self._pending[message.key] = message
        self.list.set_status(message, "pending")
        background_tasks.create(self._post(message), name="post message")

    def _retry(self, key: str) -> None:
        message = self._pending.get(key)
        if message is not None:
            self.list.set_status(message, "pending")
            background_tasks.create(self._post(message), name="retry message")

    async def _post(self, message: Message) -> None:
        try:
            await self._service.post(self._session, message)
        except NotLoggedIn:
            await self._session_ended_async()
            return
        except ChatError as exc:
            self.list.set_status(message, "failed", exc.message)
            return
        self._pending.pop(message.key, None)
        self.list.set_status(message, None)

    # -- session ---------------------------------------------------------------------------------------
    def _session_ended(self) -> None:
        background_tasks.create(self._session_ended_async(), name="session ended")

    async def _session_ended_async(self) -> None:
        self.close()
        await self._on_session_end()
