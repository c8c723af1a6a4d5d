"""The hot path: the hub's one sink. Each batch of a room's new messages is serialized once and sent in one
Socket.IO emit to a room that holds the socket of every chat view of that chat room in this process.

Building elements or calling a method per client costs far more than one room emit (see docs/benchmarks.md); the
per-view work left here is a dictionary update on the view's bounded model. The room list's counts travel the same
way, coalesced: one emit per shown room (without that room's own count, which its views do not show), however many
rooms had messages. Such an emit reaches every tab of the process, so the emits are spaced by the number of tabs: their
CPU stays a bounded share of a core per process, not a cost per message per tab. A socket that was away asks for
what it missed when it joins again (the ack of the join event), and its view reads its room list again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from nicegui import background_tasks, core

from chat import markdown
from chat.hub import Hub
from chat.metrics import Metrics
from chat.models import Message
from chat.rooms import Room

from .presence_emit import PresenceEmitter

log = logging.getLogger(__name__)

MESSAGES_EVENT = "sinchchat_messages"
ACTIVITY_EVENT = "sinchchat_activity"
ROOM_EVENT = "sinchchat_room"
JOIN_EVENT = "sinchchat_join"
_EVERY_VIEW = "sinchchat:views"
# the room list's counts reach the tabs this long after the first news of a quiet spell, and at most this often
ACTIVITY_EMIT_INTERVAL = 0.5
# ... and, with many tabs, no more often than this CPU share of a core allows: an emit that reaches every tab costs
# about 40 µs per tab (docs/benchmarks.md, rooms): 100 tabs hear of activity every 0.5 s, 350 or more every 1.4 s
ACTIVITY_CPU_SHARE = 0.01
ACTIVITY_SECONDS_PER_TAB = 40e-6
# ... but never further apart than this: with the hub's 0.5 s window, a count changes within 2 s of a message
ACTIVITY_MAX_SPACING = 1.4

# about six pages of every view's default limit: the history most open tabs show, shared by all of them
_SHARED_PAYLOADS = 2000


def socket_room(room: str) -> str:
    """The Socket.IO room of the chat views that show ``room``."""
    return f"sinchchat:r:{room}"


class View(Protocol):
    room: str
    author_id: str
    session_digest: str
    name: str  # the author's, as the room's Online list shows it

    def accept(self, payload: list[dict[str, Any]]) -> None:
        """Take new stored messages into the view's model."""

    def after(self, key: str | None, changed: str | None = None) -> list[dict[str, Any]]:
        """The stored messages the view holds newer than ``key``, and those changed after the change key
        ``changed`` (every changed one for None)."""

    def read(self, room: str, key: str) -> None:
        """The view's session has read ``room`` up to ``key`` (maybe in another tab)."""

    def session_ended(self) -> None:
        """The view's session has ended (maybe in another tab or process)."""

    def rejoined(self) -> None:
        """The view's socket joined again after it was away: what was emitted to it meanwhile is lost."""


class Broadcaster:
    """One per process: the registry of chat views, by chat room, author and session, and the emits to them."""

    def __init__(self, hub: Hub, *, lobby_id: str, metrics: Metrics) -> None:
        self._hub = hub
        self._lobby_id = lobby_id
        self._metrics = metrics
        metrics.count_tabs(lambda: self.view_count)
        self._views: dict[str, View] = {}  # by NiceGUI client id: one chat view per page
        self._by_room: dict[str, set[str]] = {}
        self._by_author: dict[str, set[str]] = {}
        self._by_session: dict[str, set[str]] = {}
        self._payloads: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._activity: dict[str, list[Any]] = {}  # room -> [newest key, count] not yet emitted
        self._activity_emit: asyncio.TimerHandle | None = None
        self._activity_sent_at = -float("inf")  # time.monotonic() of the last activity emit
        hub.attach(self)
        self.presence = PresenceEmitter(hub.presence, socket_room=socket_room)
        self._present: set[str] = set()  # the views counted in their room's Online list (their socket is there)
        core.sio.on(JOIN_EVENT, handler=self._on_join)

    @property
    def view_count(self) -> int:
        return len(self._views)

    def views_of(self, room: str) -> int:
        return len(self._by_room.get(room, ()))

    def register(self, client_id: str, view: View) -> None:
        self.unregister(client_id)
        self._views[client_id] = view
        for index, key in ((self._by_room, view.room), (self._by_author, view.author_id)):
            index.setdefault(key, set()).add(client_id)
        self._by_session.setdefault(view.session_digest, set()).add(client_id)
        if len(self._by_room[view.room]) == 1:
            self._hub.open_room(view.room)
        self.back(client_id)

    def away(self, client_id: str) -> None:
        """The view's socket went (a tab closed, or its connection was lost): off the Online list until it is back."""
        view = self._views.get(client_id)
        if view is not None and client_id in self._present:
            self._present.discard(client_id)
            self._hub.presence.leave(view.room, view.author_id)

    def back(self, client_id: str) -> None:
        """The view's socket is there: on its room's Online list (once per person, however many tabs)."""
        view = self._views.get(client_id)
        if view is not None and client_id not in self._present:
            self._present.add(client_id)
            self._hub.presence.join(view.room, view.author_id, view.name)

    def unregister(self, client_id: str) -> None:
        self.away(client_id)
        view = self._views.pop(client_id, None)
        if view is None:
            return
        _discard(self._by_author, view.author_id, client_id)
        _discard(self._by_session, view.session_digest, client_id)
        if not _discard(self._by_room, view.room, client_id):
            self._hub.close_room(view.room)

    def payloads(self, messages: Iterable[Message]) -> list[dict[str, Any]]:
        """The messages as the browser gets them, one shared dict per key for every view of the process.

        Views keep these dicts for as long as they show the message, so a thousand tabs showing the same page
        hold one copy of it; nobody may change them.
        """
        shared = self._payloads
        out = []
        for message in messages:
            data = shared.get(message.key)
            # a higher version replaces the key's dict (views holding the old one keep it): never serve a stale one
            if data is None or data["version"] < message.version:
                data = shared[message.key] = markdown.payload(message)  # rendered here, once per process and version
                # kept as long as a new message would be: let go first, a stale copy read late would take its place
                shared.move_to_end(message.key)
                if len(shared) > _SHARED_PAYLOADS:
                    shared.popitem(last=False)
            out.append(data)
        return out

    # -- what the hub hands over ---------------------------------------------------------------------
    def on_messages(self, room: str, messages: list[Message]) -> None:
        arrived = time.perf_counter()  # the hub calls this at once with what reached it
        payload = self.payloads(messages)  # once for every view of the process
        self._each(self._by_room.get(room, ()), lambda view: view.accept(payload))
        background_tasks.create(self._emit(room, payload, arrived, len(messages)), name="broadcast messages")

    async def _emit(self, room: str, payload: list[dict[str, Any]], arrived: float, count: int) -> None:
        await core.sio.emit(MESSAGES_EVENT, payload, room=socket_room(room))
        waited = time.perf_counter() - arrived
        for _ in range(count):  # one observation per message, whatever the batching
            self._metrics.emit_seconds.observe(waited)

    def on_activity(self, rooms: dict[str, tuple[str, int]]) -> None:
        for room, (newest, count) in rooms.items():
            current = self._activity.get(room)
            if current is None:
                self._activity[room] = [newest, count]
            else:
                current[0], current[1] = max(current[0], newest), current[1] + count
        if self._activity_emit is None:
            by_cpu = self.view_count * ACTIVITY_SECONDS_PER_TAB / ACTIVITY_CPU_SHARE
            spacing = min(ACTIVITY_MAX_SPACING, max(ACTIVITY_EMIT_INTERVAL, by_cpu))
            delay = max(ACTIVITY_EMIT_INTERVAL, self._activity_sent_at + spacing - time.monotonic())
            self._activity_emit = asyncio.get_running_loop().call_later(delay, self._emit_activity)

    def _emit_activity(self) -> None:
        self._activity_emit = None
        activity, self._activity = self._activity, {}
        if not activity or not self._views:
            return
        self._activity_sent_at = time.monotonic()
        # one emit, encoded once, to the tabs of every shown room that has news of another room: a tab skips its own
        # room's entry, and the tabs of the one busy room (all of a process's tabs in one lobby) are sent nothing
        rooms = [socket_room(shown) for shown in self._by_room if len(activity) > 1 or shown not in activity]
        if rooms:
            background_tasks.create(core.sio.emit(ACTIVITY_EVENT, activity, room=rooms), name="room activity")

    def on_read(self, reader: str, room: str, key: str) -> None:
        # a view that shows the room knows what it shows; only the session's other tabs need telling
        readers = (c for c in self._by_author.get(reader, ()) if c not in self._by_room.get(room, ()))
        self._each(readers, lambda view: view.read(room, key))

    def on_room(self, room: Room) -> None:
        if self._views:
            data = room.to_json(self._lobby_id)
            background_tasks.create(core.sio.emit(ROOM_EVENT, data, room=_EVERY_VIEW), name="new room")

    def on_session_end(self, digest: str) -> None:
        self._each(self._by_session.get(digest, ()), lambda view: view.session_ended())

    def _each(self, client_ids: Iterable[str], call: Callable[[View], None]) -> None:
        for client_id in list(client_ids):
            view = self._views.get(client_id)
            if view is None:
                continue
            try:
                call(view)
            except Exception:
                # one broken view must never stop the others
                log.exception("a chat view failed to take an update")

    # -- sockets -----------------------------------------------------------------------------------------
    async def _on_join(self, sid: str, data: Any) -> list[dict[str, Any]] | None:
        """A chat view's socket asks to receive its room; the answer is what it missed, or None to retry."""
        if not isinstance(data, dict):
            return None
        client_id = data.get("client_id")
        newest = data.get("newest")
        changed = data.get("changed")  # the highest change key the browser holds
        # the handshake put the socket in a room named after its client: only that client's socket may join
        if not isinstance(client_id, str) or not in_room(sid, client_id):
            return None
        view = self._views.get(client_id)
        if view is None:
            return None
        await core.sio.enter_room(sid, socket_room(view.room))
        await core.sio.enter_room(sid, _EVERY_VIEW)
        if data.get("again") is True:
            view.rejoined()  # the room list's counts and new rooms were emitted while it was away
        self.back(client_id)
        await self.presence.send_full(sid, view.room)  # the deltas sent while it was away are lost to it
        return view.after(newest if isinstance(newest, str) else None, changed if isinstance(changed, str) else None)


def in_room(sid: str, room: str) -> bool:
    """Whether socket ``sid`` is in Socket.IO room ``room``: a look at that room's members (one or two sockets for a
    page's room), where ``sio.rooms(sid)`` walks every room of the server, one per open page, on every join."""
    return any(member == sid for member, _ in core.sio.manager.get_participants("/", room))


def _discard(index: dict[str, set[str]], key: str, client_id: str) -> bool:
    """Remove ``client_id`` under ``key``; whether any is left there."""
    ids = index.get(key)
    if ids is None:
        return False
    ids.discard(client_id)
    if not ids:
        del index[key]
        return False
    return True
