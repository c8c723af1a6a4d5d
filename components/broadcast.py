"""The hot path: each batch of new messages is serialized once and sent in one Socket.IO emit to a room
that holds the socket of every chat view in this process.

Building elements or calling a method per client costs far more than one room emit (see
docs/benchmarks.md); the per-view work left here is a dictionary update on the view's bounded model.
A socket that was away asks for what it missed when it joins again (the ack of the join event).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, Protocol

from nicegui import background_tasks, core

from chat.feed import RoomFeed
from chat.metrics import Metrics
from chat.models import Message

log = logging.getLogger(__name__)

MESSAGES_EVENT = "sinchchat_messages"
JOIN_EVENT = "sinchchat_join"


# about six pages of every view's default limit: the history most open tabs show, shared by all of them
_SHARED_PAYLOADS = 2000


class View(Protocol):
    def accept(self, payload: list[dict[str, Any]]) -> None:
        """Take new stored messages into the view's model."""

    def after(self, key: str | None) -> list[dict[str, Any]]:
        """The stored messages the view holds newer than ``key``."""


class Broadcaster:
    """One per process: the RoomFeed's only listener, and the registry of the chat views it feeds."""

    def __init__(self, feed: RoomFeed, *, metrics: Metrics) -> None:
        self.room = f"sinchchat:{feed.room}"
        self._metrics = metrics
        metrics.count_tabs(lambda: self.view_count)
        self._views: dict[str, View] = {}  # by NiceGUI client id: one chat view per page
        self._payloads: OrderedDict[str, dict[str, Any]] = OrderedDict()
        feed.subscribe(self._on_messages)
        core.sio.on(JOIN_EVENT, handler=self._on_join)

    @property
    def view_count(self) -> int:
        return len(self._views)

    def register(self, client_id: str, view: View) -> None:
        self._views[client_id] = view

    def unregister(self, client_id: str) -> None:
        self._views.pop(client_id, None)

    def payloads(self, messages: Iterable[Message]) -> list[dict[str, Any]]:
        """The messages as the browser gets them, one shared dict per key for every view of the process.

        Views keep these dicts for as long as they show the message, so a thousand tabs showing the same page
        hold one copy of it; nobody may change them.
        """
        shared = self._payloads
        out = []
        for message in messages:
            data = shared.get(message.key)
            if data is None:
                data = shared[message.key] = message.to_json()
                if len(shared) > _SHARED_PAYLOADS:
                    shared.popitem(last=False)
            out.append(data)
        return out

    def _on_messages(self, messages: list[Message]) -> None:
        arrived = time.perf_counter()  # the hub calls this at once with what reached it
        payload = self.payloads(messages)  # once for every view of the process
        for view in list(self._views.values()):
            try:
                view.accept(payload)
            except Exception:
                log.exception("a chat view failed to take new messages")
        background_tasks.create(self._emit(payload, arrived, len(messages)), name="broadcast messages")

    async def _emit(self, payload: list[dict[str, Any]], arrived: float, count: int) -> None:
        await core.sio.emit(MESSAGES_EVENT, payload, room=self.room)
        waited = time.perf_counter() - arrived
        for _ in range(count):  # one observation per message, whatever the batching
            self._metrics.emit_seconds.observe(waited)

    async def _on_join(self, sid: str, data: Any) -> list[dict[str, Any]] | None:
        """A chat view's socket asks to receive the room; the answer is what it missed, or None to retry."""
        if not isinstance(data, dict):
            return None
        client_id = data.get("client_id")
        newest = data.get("newest")
        # the handshake put the socket in a room named after its client: only that client's socket may join
        if not isinstance(client_id, str) or client_id not in core.sio.rooms(sid):
            return None
        view = self._views.get(client_id)
        if view is None:
            return None
        await core.sio.enter_room(sid, self.room)
        return view.after(newest if isinstance(newest, str) else None)
