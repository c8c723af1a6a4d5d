"""The chat view: the chat panel (who is here, Load more, the messages) and the composer."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import background_tasks, ui

from chat.errors import ChatError, NotLoggedIn
from chat.metrics import Metrics
from chat.models import Message, Session
from chat.service import ChatService

from .broadcast import Broadcaster
from .chat_panel import ChatPanel
from .composer import composer

log = logging.getLogger(__name__)


class ChatView:
    """One browser tab's view of the conversation, fed by the process's RoomFeed."""

    def __init__(
        self,
        *,
        service: ChatService,
        broadcaster: Broadcaster,
        metrics: Metrics,
        session: Session,
        view_limit: int,
        on_logout: Callable[[], Awaitable[None]],
        on_session_end: Callable[[], Awaitable[None]],
    ) -> None:
        self._service = service
        self._broadcaster = broadcaster
        self._metrics = metrics
        self._session = session
        self._on_session_end = on_session_end
        self._pending: dict[str, Message] = {}
        self._unsubscribe: list[Callable[[], None]] = []
        self._loading = False
        self.panel = ChatPanel(name=session.name, me=session.name_key, limit=view_limit).mark("messages")
        self.panel.on("load_more", self._load_more)
        self.panel.on("logout", on_logout)
        self.panel.on("retry", lambda e: self._retry(str(e.args)))
        self.box = composer(max_length=service.limits.max_message_length, on_send=self._send)

    async def start(self) -> None:
        """Load the newest page, then follow the room; call before the page is sent."""
        page = await self._service.history()
        self.panel.show(self._broadcaster.payloads(page.messages), more=page.cursor is not None)
        client = self.panel.client
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
    def accept(self, payload: list[dict[str, Any]]) -> None:
        """New stored messages for the model (the Broadcaster sends them to the browser)."""
        self.panel.accept(payload)

    def after(self, key: str | None) -> list[dict[str, Any]]:
        return self.panel.after(key)

    async def _catch_up(self) -> None:
        newest = self.panel.newest_key
        if newest is None:
            return
        try:
            missed = await self._service.since(newest)
        except ChatError as exc:
            log.warning("catch-up for a view failed: %s", exc)
            return
        self.accept(self._broadcaster.payloads(missed))

    async def _load_more(self) -> None:
        if self._loading:
            return  # one page at a time
        self._loading = True
        more = True
        try:
            page = await self._service.history(before=self.panel.oldest_key)
            self.panel.prepend(self._broadcaster.payloads(page.messages))
            more = page.cursor is not None
        except ChatError as exc:
            ui.notify(exc.message, type="warning")
        finally:
            self._loading = False
            self.panel.set_more(more)

    # -- writing ---------------------------------------------------------------------------------------
    async def _send(self, text: str) -> None:
        message = self._service.prepare(self._session, text)  # InvalidText: refused, text stays in the box
        self._pending[message.key] = message
        self.panel.set_status(message, "pending")
        background_tasks.create(self._post(message), name="post message")

    def _retry(self, key: str) -> None:
        message = self._pending.get(key)
        if message is not None:
            self.panel.set_status(message, "pending")
            background_tasks.create(self._post(message), name="retry message")

    # a post that is under way when the process is told to stop is finished, not cancelled: the person saw it as
    # "sending", and NiceGUI's shutdown awaits it before the runtime closes the backends
    @background_tasks.await_on_shutdown
    async def _post(self, message: Message) -> None:
        try:
            await self._service.post(self._session, message)
        except NotLoggedIn as exc:
            self._metrics.refused(exc)
            await self._session_ended_async()
            return
        except ChatError as exc:
            self._metrics.refused(exc)
            self.panel.set_status(message, "failed", exc.message)
            return
        self._pending.pop(message.key, None)
        self.panel.set_status(message, None)

    # -- session ---------------------------------------------------------------------------------------
    def _session_ended(self) -> None:
        background_tasks.create(self._session_ended_async(), name="session ended")

    async def _session_ended_async(self) -> None:
        self.close()
        await self._on_session_end()
