"""A tap on the hub's one sink, for the benchmark's other ways: the lobby's new messages reach their pages too.

The hub hands what it learns to one sink, the broadcaster. The other ways are fed exactly as a chat view is, by
the process's hub, so the tap stands in the sink's place and passes everything on to the broadcaster unchanged.
No product view opens the lobby on those servers, so the tap has the hub open it (subscribe to its channel, keep
its memory), as the first chat view of the lobby would.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from nicegui import app

from chat.hub import HubSink
from chat.models import Message
from chat.rooms import Room
from chat.runtime import Runtime

log = logging.getLogger(__name__)

Listener = Callable[[list[Message]], None]


class LobbyTap:
    """A HubSink that passes everything to the sink it replaced, and the lobby's new messages to its listeners."""

    def __init__(self, inner: HubSink | None, *, lobby: str) -> None:
        self._inner = inner
        self._lobby = lobby
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every batch of the lobby's new messages; returns the way to stop."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def on_messages(self, room: str, messages: list[Message]) -> None:
        if self._inner is not None:
            self._inner.on_messages(room, messages)
        if room != self._lobby:
            return
        for listener in list(self._listeners):
            try:
                listener(messages)
            except Exception:
                log.exception("a benchmark page failed to take new messages")  # the others still get them

    def on_activity(self, rooms: dict[str, tuple[str, int]]) -> None:
        if self._inner is not None:
            self._inner.on_activity(rooms)

    def on_read(self, reader: str, room: str, key: str) -> None:
        if self._inner is not None:
            self._inner.on_read(reader, room, key)

    def on_room(self, room: Room) -> None:
        if self._inner is not None:
            self._inner.on_room(room)

    def on_session_end(self, digest: str) -> None:
        if self._inner is not None:
            self._inner.on_session_end(digest)


def tap_lobby(runtime: Runtime) -> LobbyTap:
    """Put a tap in front of the hub's sink (after ``main.mount`` attached the broadcaster), and open the lobby once
    the runtime has started (``mount`` registered its start first)."""
    lobby = runtime.service.lobby.id
    tap = LobbyTap(runtime.hub.sink, lobby=lobby)
    runtime.hub.attach(tap)
    app.on_startup(lambda: runtime.hub.open_room(lobby))
    return tap
