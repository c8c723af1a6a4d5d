"""The chat view: the chat panel (the room list, the room's bar, Load more, the messages) and the composer."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from nicegui import background_tasks, ui
from nicegui.events import GenericEventArguments

from chat.errors import ChatError, InvalidInput, NotLoggedIn, Unavailable
from chat.hub import floor_before
from chat.metrics import Metrics
from chat.models import REACTIONS, Draft, Message, Session, is_message_key, session_digest
from chat.rooms import Room
from chat.service import ChatService

from .broadcast import Broadcaster
from .chat_panel import ChatPanel
from .composer import Composer

log = logging.getLogger(__name__)

# while a view shows new messages, its session's read marker moves at most this often (and when it closes)
READ_MARK_SECONDS = 5.0
# the reader's messages not stored yet (sending, or failed and waiting for Retry) that one view holds: a client that
# sends faster than the store takes, or while it cannot be reached, is refused past this, not remembered without end
MAX_UNSENT = 20


@dataclass(frozen=True, slots=True)
class RoomList:
    """Every room, the session's unread counts of the rooms not shown, and the key they are counted up to: the room
    list's activity about messages up to that key, heard later, is already in the counts."""

    rooms: list[Room]
    unread: dict[str, int]
    counted: str


async def room_list(service: ChatService, session: Session, shown: Room) -> RoomList:
    """The room list of a view of ``shown``: every room, ``shown`` too (a room past the list's length is still listed
    where it is open), and the session's unread counts of the others (none when they cannot be counted: the room
    works without them)."""
    rooms = await service.rooms()
    if all(r.id != shown.id for r in rooms):
        rooms.append(shown)
    counted = service.key_now()  # before counting: what is stored meanwhile may be counted and heard, not missed
    try:
        unread = await service.unread(session, [r for r in rooms if r.id != shown.id])
    except Unavailable as exc:
        log.warning("could not count unread messages: %s", exc)
        unread = {}
    return RoomList(rooms, unread, counted)


class ChatView:
    """One browser tab's view of one room, fed by the process's broadcaster."""

    def __init__(
        self,
        *,
        service: ChatService,
        broadcaster: Broadcaster,
        metrics: Metrics,
        session: Session,
        room: Room,
        listed: RoomList,
        view_limit: int,
        on_logout: Callable[[], Awaitable[None]],
        on_session_end: Callable[[], Awaitable[None]],
        on_create_room: Callable[[str], Awaitable[None]],
        address: str | None = None,
    ) -> None:
        self._service = service
        self._broadcaster = broadcaster
        self._metrics = metrics
        self._session = session
        self._room = room
        self.room = room.id
        self.author_id = session.author_id
        self.name = session.name
        self.session_digest = session_digest(session.token)
        self._marked_at = 0.0
        self._unmarked = False
        # the browser's socket is gone (it left the page, or lost its connection): what arrives now is not seen
        self._away = False
        self._mark_later: asyncio.TimerHandle | None = None  # the mark of what came within READ_MARK_SECONDS
        self._address = address  # the browser's, for the limits per address
        self._on_session_end = on_session_end
        # the reader's messages not stored yet, by provisional key: "~" sorts after every stored key, and the
        # counter keeps them in the order they were typed until the server gives each its place
        self._pending: dict[str, Draft] = {}
        self._failed: set[str] = set()  # those of them not being posted: Retry posts them again, once each
        self._typed = 0
        # one post at a time, in the order typed: the server gives each its time when it stores it
        self._posting = asyncio.Lock()
        self._unsubscribe: list[Callable[[], None]] = []
        self._loading = False
        lobby = service.lobby.id
        self.panel = ChatPanel(
            name=session.name,
            me=session.author_id,
            limit=view_limit,
            room=room.to_json(lobby),
            rooms=[r.to_json(lobby) for r in listed.rooms],
            unread=listed.unread,
            counted=listed.counted,
        ).mark("messages")
        self.panel.on("load_more", self._load_more)
        self.panel.on("logout", on_logout)
        self.panel.on("retry", lambda e: self._retry(str(e.args)))
        self.panel.on("create_room", lambda e: on_create_room(str(e.args)))
        self.panel.on("delete", self._on_delete)
        self.panel.on("react", self._on_react)
        self.composer = Composer(
            room=room.id,
            max_length=service.limits.max_message_length,
            on_send=self._send,
            on_edit=self._edit,
            on_typing=self._typing,
            me=session.author_id,
        )

    async def start(self) -> None:
        """Load the newest page, then follow the room; call before the page is sent."""
        page = await self._service.history(self.room)
        self.panel.show(self._broadcaster.payloads(page.messages), more=page.cursor is not None)
        client = self.panel.client
        self._broadcaster.register(client.id, self)
        self._unsubscribe = [lambda: self._broadcaster.unregister(client.id)]
        client.on_delete(self.close)
        client.on_disconnect(self._left)
        client.on_connect(self._came_back)
        # the Online list and typists come with the socket's join (Broadcaster._on_join), not in the page: in the
        # page they grew every page with the room's people, and a storm of N tabs into one room cost N squared
        await self._catch_up()  # anything stored between the page read and the registration
        self._mark_read()

    def close(self) -> None:
        if self._mark_later is not None:
            self._mark_later.cancel()
            self._mark_later = None
        if self._unsubscribe and self._unmarked and not self._away:
            self._mark_read()  # what arrived since the last mark was seen too
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []

    # -- reading ---------------------------------------------------------------------------------------
    def accept(self, payload: list[dict[str, Any]]) -> None:
        """New stored messages for the model (the Broadcaster sends them to the browser)."""
        self.panel.accept(payload)
        self._unmarked = True
        if self._away:
            return
        wait = self._marked_at + READ_MARK_SECONDS - time.monotonic()
        if wait <= 0:
            self._mark_read()
        else:  # no more often than that, but then for what came meanwhile too
            self._mark_soon(wait)

    def _mark_soon(self, wait: float) -> None:
        if self._mark_later is None:
            self._mark_later = asyncio.get_running_loop().call_later(wait, self._mark_if_unmarked)

    def _mark_if_unmarked(self) -> None:
        self._mark_later = None
        if self._unsubscribe and self._unmarked and not self._away:
            self._mark_read()

    def _left(self) -> None:
        """The socket went: what the tab showed until now was seen; what the view takes from now on is not, until
        the tab comes back (a page left for another room stays a few seconds before NiceGUI deletes it)."""
        if not self._unsubscribe:
            return  # closed: the client's handlers outlive a view replaced in the same tab (log out, join again)
        if self._unmarked:
            self._mark_read()
        # a socket found dead late may go after its replacement came: away only when none is left
        self._away = not self.panel.client.has_socket_connection
        if self._away:
            self._broadcaster.away(self.panel.client.id)

    def _came_back(self) -> None:
        if not self._unsubscribe:
            return
        self._away = False
        self._broadcaster.back(self.panel.client.id)
        if self._unmarked:  # its join brings what came while it was away: seen once it is there
            self._mark_soon(READ_MARK_SECONDS)

    def _mark_read(self) -> None:
        newest = self.panel.newest_key
        self._marked_at = time.monotonic()
        self._unmarked = False
        if newest is not None:
            self._service.mark_read(self._session, self.room, newest)

    def read(self, room: str, key: str) -> None:
        """The session read ``room`` up to ``key`` in another tab: the room list here clears its count."""
        self.panel.read(room, key)

    def rejoined(self) -> None:
        """The tab's socket joined again after it was away: what the room list was sent meanwhile (counts, new
        rooms, rooms read in other tabs) went nowhere, so the list is read again, for this tab alone."""
        background_tasks.create(self._refresh_rooms(), name="refresh the room list")

    async def _refresh_rooms(self) -> None:
        try:
            listed = await room_list(self._service, self._session, self._room)
        except ChatError as exc:  # the list stays as it was
            log.warning("could not read the room list again: %s", exc)
            return
        if self._unsubscribe:  # still open
            lobby = self._service.lobby.id
            self.panel.set_rooms([r.to_json(lobby) for r in listed.rooms], listed.unread, listed.counted)

    def session_ended(self) -> None:
        """The session ended, in this tab or another one: show the login form."""
        background_tasks.create(self._session_ended_async(), name="session ended")

    def after(self, key: str | None, changed: str | None = None) -> list[dict[str, Any]]:
        """What a browser whose newest message is ``key`` and newest change ``changed`` may lack: from a little
        before each (it drops duplicates and versions it has)."""
        now = self._service.hub.now()
        return self.panel.after(
            None if key is None else floor_before(key, now=now),
            None if changed is None else floor_before(changed, now=now),
        )

    async def _catch_up(self) -> None:
        """What was stored while the first page was read: the overlap may bring older messages, and while older
        history is left to load, those below the page's oldest are for Load more, not news."""
        newest = self.panel.newest_key
        if newest is None:
            return
        try:
            missed = await self._service.since(self.room, newest)
        except ChatError as exc:
            log.warning("catch-up for a view failed: %s", exc)
            return
        oldest = self.panel.oldest_key if self.panel.more else None
        self.accept(self._broadcaster.payloads(m for m in missed if oldest is None or m.key > oldest))

    async def _load_more(self) -> None:
        if self._loading:
            return  # one page at a time
        self._loading = True
        more = True
        ended = False
        try:
            page = await self._service.older(self._session, self.room, before=self.panel.load_before)
            self.panel.prepend(self._broadcaster.payloads(page.messages))
            more = page.cursor is not None
        except NotLoggedIn as exc:
            self._metrics.refused(exc)
            ended = True
        except ChatError as exc:  # a rate limit too: the button is offered again
            self._metrics.refused(exc)
            ui.notify(exc.message, type="warning")
        finally:
            self._loading = False
            self.panel.set_more(more)
        if ended:
            await self._session_ended_async()

    # -- writing ---------------------------------------------------------------------------------------
    async def _typing(self) -> None:
        try:
            await self._service.typing(self._session, self.room)
        except ChatError as exc:  # the room went, or Redis is away: nobody is told, the box works as before
            log.debug("a typing event was dropped: %s", exc)

    async def _send(self, text: str, nonce: str) -> None:
        # InvalidText: refused, the box gets it back
        draft = self._service.prepare(self._session, text, room=self.room, nonce=nonce)
        if len(self._pending) >= MAX_UNSENT:
            raise InvalidInput(
                f"{MAX_UNSENT} of your messages are not sent yet. Send them again or wait before you write more."
            )
        self._typed += 1
        key = f"~{self._typed:09d}.{draft.nonce}"
        self._pending[key] = draft
        self.panel.set_pending(key, draft, "pending")
        background_tasks.create(self._post(key, draft), name="post message")

    def _retry(self, key: str) -> None:
        draft = self._pending.get(key)
        if draft is not None and key in self._failed:  # a message being posted is not posted twice at once
            self._failed.discard(key)
            self.panel.set_pending(key, draft, "pending")
            background_tasks.create(self._post(key, draft), name="retry message")

    # a post that is under way when the process is told to stop is finished, not cancelled: the person saw it as
    # "sending", and NiceGUI's shutdown awaits it before the runtime closes the backends
    @background_tasks.await_on_shutdown
    async def _post(self, key: str, draft: Draft) -> None:
        try:
            async with self._posting:
                message = await self._service.post(self._session, draft, address=self._address)
        except NotLoggedIn as exc:
            self._metrics.refused(exc)
            await self._session_ended_async()
            return
        except ChatError as exc:
            self._metrics.refused(exc)
            self._failed.add(key)
            self.panel.set_pending(key, draft, "failed", exc.message)
            return
        self._pending.pop(key, None)
        self.panel.confirm(key, self._broadcaster.payloads([message])[0])

    # -- changing stored messages ------------------------------------------------------------------------
    # every view of the room (this one too) shows a change when the hub hands it to the broadcaster
    async def _edit(self, key: str, text: str) -> None:
        await self._changing(self._service.edit(self._session, self.room, key, text), refuse=True)

    async def _on_delete(self, event: GenericEventArguments) -> None:
        key = event.args
        if not isinstance(key, str) or not is_message_key(key):
            log.debug("dropped a malformed delete event")  # only a hand-made client sends one: no log flood
            return
        await self._changing(self._service.delete(self._session, self.room, key))

    async def _on_react(self, event: GenericEventArguments) -> None:
        args = event.args
        key, emoji, on = (args.get(name) for name in ("key", "emoji", "on")) if isinstance(args, dict) else (None,) * 3
        if not isinstance(key, str) or not is_message_key(key) or emoji not in REACTIONS or not isinstance(on, bool):
            log.debug("dropped a malformed react event")
            return
        await self._changing(self._service.react(self._session, self.room, key, str(emoji), on=on))

    async def _changing(self, change: Awaitable[Message], *, refuse: bool = False) -> None:
        """Run a change; a refusal is shown to this reader (an edit's under the box, by raising, with ``refuse``)."""
        try:
            await change
        except NotLoggedIn as exc:
            self._metrics.refused(exc)
            await self._session_ended_async()
        except ChatError as exc:
            self._metrics.refused(exc)
            if refuse:
                raise
            ui.notify(exc.message, type="warning")

    # -- session ---------------------------------------------------------------------------------------
    async def _session_ended_async(self) -> None:
        self.close()
        await self._on_session_end()
