"""The tabs of one app process, as its hub sees them: a recording stand-in for components.broadcast.Broadcaster.

Like the broadcaster, it is the hub's one sink, opens a room on the hub with the room's first tab and closes it
with its last, and hands each batch of a room's new messages to every tab of that room (here a tally.View, which
records what it got and by which way). What the activity channel brings (room activity, read markers, new rooms,
ended sessions) is recorded as it comes, for the tests to look at.
"""

from __future__ import annotations

from chat.hub import Hub
from chat.models import Message
from chat.rooms import Room

from .tally import View


class Tabs:
    """Every tab of one process, by room; the hub's sink."""

    def __init__(self, hub: Hub, *, process: str) -> None:
        self._hub = hub
        self._process = process
        self._by_room: dict[str, list[View]] = {}
        self.activity: list[dict[str, tuple[str, int]]] = []
        self.reads: list[tuple[str, str, str]] = []
        self.rooms: list[Room] = []
        self.ended: list[str] = []  # digests of ended sessions
        self.misplaced: list[tuple[str, Message]] = []  # (room, message of another room handed to its tabs)
        hub.attach(self)

    def open(self, room: str, name: str | None = None) -> View:
        """A new tab showing ``room``; the room's first tab opens it on the hub (which subscribes to it)."""
        tabs = self._by_room.setdefault(room, [])
        view = View(name or f"{self._process} {room} tab {len(tabs) + 1}")
        tabs.append(view)
        if len(tabs) == 1:
            self._hub.open_room(room)
        return view

    def close(self, room: str, view: View) -> None:
        """The tab is gone; the room's last tab closes it on the hub (which unsubscribes after its linger)."""
        tabs = self._by_room[room]
        tabs.remove(view)
        if not tabs:
            del self._by_room[room]
            self._hub.close_room(room)

    def of(self, room: str) -> list[View]:
        return list(self._by_room.get(room, ()))

    # -- what the hub hands over ---------------------------------------------------------------------
    def on_messages(self, room: str, messages: list[Message]) -> None:
        self.misplaced += [(room, m) for m in messages if m.room != room]
        for view in self._by_room.get(room, ()):
            view(messages)

    def on_activity(self, rooms: dict[str, tuple[str, int]]) -> None:
        self.activity.append(dict(rooms))

    def on_read(self, reader: str, room: str, key: str) -> None:
        self.reads.append((reader, room, key))

    def on_room(self, room: Room) -> None:
        self.rooms.append(room)

    def on_session_end(self, digest: str) -> None:
        self.ended.append(digest)
