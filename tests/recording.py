"""Seams that record what the hub asks of Redis and what it hands its sink, for the hub and service tests."""

from __future__ import annotations

import time
from collections.abc import Coroutine
from typing import Any

from chat.events import Event
from chat.hub import Hub
from chat.models import Message
from chat.rooms import Room
from tests.helpers import wait_for


class RecordingBus:
    """A bus seam: records what the hub asks of Redis, and lets the test play the subscriber."""

    def __init__(self) -> None:
        self.watched: list[str] = []
        self.unwatched: list[str] = []
        self.published: list[tuple[str | None, Event]] = []
        self.on_event: Any = None
        self.on_subscribed: Any = None
        self.presence_hash: dict[str, dict[str, Event]] = {}  # room -> origin -> presence event, as Redis holds it

    def watch(self, room: str) -> None:
        self.watched.append(room)

    def unwatch(self, room: str) -> None:
        self.unwatched.append(room)

    async def publish(self, room: str | None, event: Event) -> None:
        self.published.append((room, event))

    def start(self, *, on_event: Any, on_subscribed: Any) -> None:
        self.on_event, self.on_subscribed = on_event, on_subscribed

    async def put_presence(self, room: str, origin: str, event: Event, *, until: float, ttl: int) -> None:
        if event.get("people"):
            self.presence_hash.setdefault(room, {})[origin] = {**event, "until": until}
        else:
            self.presence_hash.get(room, {}).pop(origin, None)

    async def presence(self, room: str, *, now: float) -> dict[str, Event]:
        return {o: e for o, e in self.presence_hash.get(room, {}).items() if e["until"] > now}

    async def stop(self) -> None:
        pass

    def subscribed(self, room: str | None) -> Coroutine[Any, Any, None]:
        """What the real bus runs when Redis confirms a (re)subscription of ``room``."""
        coroutine: Coroutine[Any, Any, None] = self.on_subscribed(room)
        return coroutine


class RecordingSink:
    """The hub's sink (the broadcaster in the product): everything handed over, in order."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, list[Message]]] = []
        self.activity: list[dict[str, tuple[str, int]]] = []
        self.reads: list[tuple[str, str, str]] = []
        self.rooms: list[Room] = []
        self.ended: list[str] = []

    @property
    def messages(self) -> list[tuple[str, list[str]]]:
        """Each batch as (room, texts)."""
        return [(room, [m.text for m in batch]) for room, batch in self.batches]

    def of(self, room: str) -> list[Message]:
        """Every message of ``room`` handed over, in the order handed."""
        return [m for r, batch in self.batches if r == room for m in batch]

    def on_messages(self, room: str, messages: list[Message]) -> None:
        self.batches.append((room, list(messages)))

    def on_activity(self, rooms: dict[str, tuple[str, int]]) -> None:
        self.activity.append(dict(rooms))

    def on_read(self, reader: str, room: str, key: str) -> None:
        self.reads.append((reader, room, key))

    def on_room(self, room: Room) -> None:
        self.rooms.append(room)

    def on_session_end(self, digest: str) -> None:
        self.ended.append(digest)


async def show(hub: Hub, room: str, *, timeout: float = 3.0) -> None:
    """Open ``room`` in a started hub (as a view does) and wait until its memory is primed from DynamoDB: its
    first catch-up runs when Redis confirms the subscription, and only then does memory answer ``since``."""
    hub.open_room(room)
    assert await wait_for(lambda: hub.since(room, None) is not None, timeout=timeout), f"{room} was never primed"


class RecordingSio:
    """Socket.IO as the broadcaster uses it: the emits it makes (event, data, room or sid, when), none sent."""

    def __init__(self) -> None:
        self.emits: list[tuple[str, Any, str | None, float]] = []

    def on(self, event: str, handler: Any) -> None:
        pass

    async def emit(self, event: str, data: Any, room: str | None = None, to: str | None = None) -> None:
        self.emits.append((event, data, room if room is not None else to, time.monotonic()))

    def of(self, event: str) -> list[tuple[Any, str | None]]:
        """The data and room (or sid) of every emit of ``event``, in order."""
        return [(data, room) for kind, data, room, _ in self.emits if kind == event]
