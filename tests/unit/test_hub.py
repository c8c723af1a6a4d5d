"""The hub: per-room subscriptions while a room is shown, each message once, catch-up per room, coalesced activity."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest

from chat import events
from chat.events import Event
from chat.hub import Hub
from chat.models import Draft, KeyClock, Message
from chat.rooms import Room
from chat.storage import Dynamo, MessageStore, TableNames
from datetime import UTC, datetime


class RecordingBus:
    """A bus seam: records what the hub asks of Redis, and lets the test play the subscriber."""

    def __init__(self) -> None:
        self.watched: list[str] = []
        self.unwatched: list[str] = []
        self.published: list[tuple[str | None, Event]] = []
        self.on_event: Any = None
        self.on_subscribed: Any = None

    def watch(self, room: str) -> None:
        self.watched.append(room)

    def unwatch(self, room: str) -> None:
        self.unwatched.append(room)

    async def publish(self, room: str | None, event: Event) -> None:
        self.published.append((room, event))

    def start(self, *, on_event: Any, on_subscribed: Any) -> None:
        self.on_event, self.on_subscribed = on_event, on_subscribed

    async def stop(self) -> None:
        pass

    def subscribed(self, room: str | None) -> Coroutine[Any, Any, None]:
        coroutine: Coroutine[Any, Any, None] = self.on_subscribed(room)
        return coroutine


class RecordingSink:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str]]] = []
        self.activity: list[dict[str, tuple[str, int]]] = []
        self.reads: list[tuple[str, str, str]] = []
        self.rooms: list[Room] = []
        self.ended: list[str] = []

    def on_messages(self, room: str, messages: list[Message]) -> None:
        self.messages.append((room, [m.text for m in messages]))

    def on_activity(self, rooms: dict[str, tuple[str, int]]) -> None:
        self.activity.append(rooms)

    def on_read(self, reader: str, room: str, key: str) -> None:
        self.reads.append((reader, room, key))

    def on_room(self, room: Room) -> None:
        self.rooms.append(room)

    def on_session_end(self, digest: str) -> None:
        self.ended.append(digest)


_CLOCK = KeyClock()


def message(room: str, text: str) -> Message:
    return Message(room=room, key=_CLOCK.key(datetime.now(UTC)), author="Ann", author_id="a1", text=text)


@pytest.fixture
async def parts(memory_db: Dynamo, tables: TableNames) -> tuple[Hub, RecordingBus, RecordingSink, MessageStore]:
    bus = RecordingBus()
    store = MessageStore(db=memory_db, tables=tables)
    hub = Hub(store=store, bus=bus, linger=0, activity_interval=3600)  # type: ignore[arg-type]
    sink = RecordingSink()
    hub.attach(sink)
    await hub.start(catch_up_interval=3600)
    return hub, bus, sink, store


async def test_a_room_is_subscribed_while_shown_and_unsubscribed_after(parts: Any) -> None:
    hub, bus, _, _ = parts
    hub.open_room("a")
    hub.open_room("a")  # a second tab
    assert bus.watched == ["a"]
    hub.close_room("a")
    assert bus.unwatched == ["a"]
    assert hub.open_rooms == frozenset()


async def test_a_room_closed_lingers_and_a_quick_return_keeps_its_subscription(memory_db: Dynamo, tables: TableNames) -> None:
    bus = RecordingBus()
    hub = Hub(store=MessageStore(db=memory_db, tables=tables), bus=bus, linger=0.2)  # type: ignore[arg-type]
    hub.open_room("a")
    hub.close_room("a")
    hub.open_room("a")  # a reload: back before the linger ends
    await asyncio.sleep(0.3)
    assert bus.unwatched == []
    hub.close_room("a")
    await asyncio.sleep(0.3)
    assert bus.unwatched == ["a"]


async def test_each_message_reaches_the_sink_once_and_only_for_its_room(parts: Any) -> None:
    hub, bus, sink, _ = parts
    hub.open_room("a")
    first = message("a", "one")
    bus.on_event("a", events.message_added(first))
    bus.on_event("a", events.message_added(first))  # the same announcement twice
    bus.on_event("a", events.message_added(message("b", "elsewhere")))  # on a's channel, but of room b
    bus.on_event("b", events.message_added(message("b", "not shown here")))
    assert sink.messages == [("a", ["one"])]


async def test_every_subscription_confirmation_catches_the_room_up_from_dynamodb(parts: Any) -> None:
    hub, bus, sink, store = parts
    hub.open_room("a")
    await bus.subscribed("a")  # primes the memory
    stored = await store.put(Draft(room="a", author="Ann", author_id="a1", text="missed", nonce="n" * 22))
    assert sink.messages == [("a", [])] or all("missed" not in texts for _, texts in sink.messages)
    await bus.subscribed("a")  # resubscribed after a drop: what was published meanwhile is read
    assert ("a", ["missed"]) in sink.messages
    assert hub.since("a", None) is not None and stored in hub.since("a", None)


async def test_activity_is_one_event_per_interval_whatever_the_rooms(parts: Any) -> None:
    hub, bus, sink, _ = parts
    for room in ("a", "b", "a", "c", "a"):
        hub.announce(message(room, "hi"))
    await hub.flush(within=1)
    activity = [event for room, event in bus.published if room is None and event["type"] == "activity"]
    assert len(activity) == 1
    counts = {room: count for room, (_, count) in events.activity_of(activity[0]).items()}
    assert counts == {"a": 3, "b": 1, "c": 1}
    assert sink.activity and {r: c for r, (_, c) in sink.activity[-1].items()} == counts
    # the process's own event comes back through Redis: it is not counted twice
    bus.on_event(None, activity[0])
    assert len(sink.activity) == 1


async def test_another_process_s_activity_reaches_the_sink_and_junk_does_not(parts: Any) -> None:
    hub, bus, sink, _ = parts
    newest = message("a", "x").key
    bus.on_event(None, events.activity({"a": (newest, 2)}, origin="elsewhere"))
    assert sink.activity == [{"a": (newest, 2)}]
    assert hub.newest("a") == newest
    for junk in (
        {"type": "activity", "op": "rooms", "origin": "x", "rooms": {"a": ["not a key", 1]}},
        {"type": "activity", "op": "rooms", "origin": "x", "rooms": {"a": [newest, -5]}},
        {"type": "activity", "op": "rooms", "origin": "x", "rooms": "nonsense"},
        {"type": "read", "op": "marks", "origin": "x", "marks": [["r", "a"]]},
        {"type": "room", "op": "add", "origin": "x", "room": {"id": 5}},
    ):
        bus.on_event(None, junk)
    assert len(sink.activity) == 1 and sink.reads == [] and sink.rooms == []
