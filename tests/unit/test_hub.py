"""The hub: per-room subscriptions while a room is shown, each message once, catch-up per room, coalesced activity."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from fakeredis import FakeAsyncRedis, FakeServer

from chat import events
from chat.bus import Bus
from chat.hub import Hub
from chat.models import Draft, KeyClock, Message, session_digest
from chat.rooms import Room
from chat.service import ChatService
from chat.storage import Dynamo, MessageStore, TableNames
from tests.conftest import BUS_KEY, make_service
from tests.recording import RecordingBus, RecordingSink, show

_CLOCK = KeyClock()


def message(room: str, text: str) -> Message:
    return Message(room=room, key=_CLOCK.key(datetime.now(UTC)), author="Ann", author_id="a1", text=text)


@dataclass
class Parts:
    hub: Hub
    bus: RecordingBus
    sink: RecordingSink
    store: MessageStore


@pytest.fixture
async def parts(memory_db: Dynamo, tables: TableNames) -> AsyncIterator[Parts]:
    """A started hub on moto, whose bus and sink record; no timer fires during a test."""
    bus = RecordingBus()
    store = MessageStore(db=memory_db, tables=tables)
    hub = Hub(store=store, bus=bus, linger=0, activity_interval=3600)  # type: ignore[arg-type]
    sink = RecordingSink()
    hub.attach(sink)
    await hub.start(catch_up_interval=3600)
    yield Parts(hub, bus, sink, store)
    await hub.stop()


async def test_a_room_is_subscribed_while_shown_and_unsubscribed_after(parts: Parts) -> None:
    parts.hub.open_room("a")
    parts.hub.open_room("a")  # a second tab
    assert parts.bus.watched == ["a"]
    assert parts.hub.open_rooms == {"a"}
    parts.hub.close_room("a")
    assert parts.bus.unwatched == ["a"]
    assert parts.hub.open_rooms == frozenset()


async def test_a_room_closed_lingers_and_a_quick_return_keeps_its_subscription(
    memory_db: Dynamo, tables: TableNames
) -> None:
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
    assert bus.watched == ["a"]  # subscribed once through it all


async def test_each_message_reaches_the_sink_once_and_only_for_its_room(parts: Parts) -> None:
    parts.hub.open_room("a")
    first = message("a", "one")
    parts.bus.on_event("a", events.message_added(first))
    parts.bus.on_event("a", events.message_added(first))  # the same announcement twice
    parts.bus.on_event("a", events.message_added(message("b", "elsewhere")))  # on a's channel, but of room b
    parts.bus.on_event("b", events.message_added(message("b", "not shown here")))
    assert parts.sink.messages == [("a", ["one"])]


async def test_messages_are_handed_over_in_key_order_each_once_and_a_broken_sink_stops_nothing(
    parts: Parts, caplog: pytest.LogCaptureFixture
) -> None:
    class BrokenOnce(RecordingSink):
        failing = True

        def on_messages(self, room: str, messages: list[Message]) -> None:
            if self.failing:
                self.failing = False
                raise RuntimeError("this view is gone")
            super().on_messages(room, messages)

    sink = BrokenOnce()
    parts.hub.attach(sink)
    parts.hub.open_room("a")
    first, second, third = (message("a", str(n)) for n in range(3))
    with caplog.at_level(logging.ERROR, logger="chat.hub"):
        assert parts.hub.deliver("a", [first]) == [first]  # the sink fails on this one
    assert "the broadcaster failed to take new messages" in caplog.text
    assert parts.hub.deliver("a", [third, second, first]) == [second, third]  # sorted, the seen one dropped
    parts.bus.on_event("a", events.message_added(third))
    assert sink.of("a") == [second, third]


async def test_a_room_nobody_shows_any_more_gets_nothing(parts: Parts) -> None:
    parts.hub.open_room("a")
    parts.hub.close_room("a")
    assert parts.hub.deliver("a", [message("a", "late")]) == []
    parts.bus.on_event("a", events.message_added(message("a", "later")))
    assert parts.sink.batches == []
    assert parts.hub.since("a", None) is None  # and its memory is gone


async def test_every_subscription_confirmation_catches_the_room_up_from_dynamodb(parts: Parts) -> None:
    parts.hub.open_room("a")
    await parts.bus.subscribed("a")  # primes the memory: the room is empty
    assert parts.hub.since("a", None) == []
    stored = await parts.store.put(Draft(room="a", author="Ann", author_id="a1", text="missed", nonce="n" * 22))
    assert parts.sink.batches == []  # nothing announced it
    await parts.bus.subscribed("a")  # resubscribed after a drop: what was published meanwhile is read
    assert parts.sink.messages == [("a", ["missed"])]
    assert parts.hub.since("a", None) == [stored]
    await parts.bus.subscribed("a")  # and read again, it is not handed over twice
    assert parts.sink.messages == [("a", ["missed"])]


async def test_activity_is_one_event_per_interval_whatever_the_rooms(parts: Parts) -> None:
    for room in ("a", "b", "a", "c", "a"):
        parts.hub.announce(message(room, "hi"))
    await parts.hub.flush(within=1)
    activity = [event for room, event in parts.bus.published if room is None and event["type"] == "activity"]
    assert len(activity) == 1
    counts = {room: count for room, (_, count) in events.activity_of(activity[0]).items()}
    assert counts == {"a": 3, "b": 1, "c": 1}
    assert len(parts.sink.activity) == 1
    assert {r: c for r, (_, c) in parts.sink.activity[0].items()} == counts
    # each message went on its own room's channel too
    channels = [room for room, event in parts.bus.published if event["type"] == "message"]
    assert sorted(channels, key=str) == [*"aaabc"]
    # the process's own event comes back through Redis: it is not counted twice
    parts.bus.on_event(None, activity[0])
    assert len(parts.sink.activity) == 1
    await parts.hub.flush(within=1)  # nothing new since: no event at all
    assert sum(event["type"] == "activity" for _, event in parts.bus.published) == 1


async def test_another_process_s_activity_reaches_the_sink_and_junk_does_not(parts: Parts) -> None:
    newest = message("a", "x").key
    parts.bus.on_event(None, events.activity({"a": (newest, 2)}, origin="elsewhere"))
    assert parts.sink.activity == [{"a": (newest, 2)}]
    assert parts.hub.newest("a") == newest
    for junk in (
        {"type": "activity", "op": "rooms", "origin": "x", "rooms": {"a": ["not a key", 1]}},
        {"type": "activity", "op": "rooms", "origin": "x", "rooms": {"a": [newest, -5]}},
        {"type": "activity", "op": "rooms", "origin": "x", "rooms": "nonsense"},
        {"type": "read", "op": "marks", "origin": "x", "marks": [["r", "a"]]},
        {"type": "room", "op": "add", "origin": "x", "room": {"id": 5}},
        {"type": "message", "op": "add", "message": {"room": "a"}},
    ):
        parts.bus.on_event(None, junk)
        parts.bus.on_event("a", junk)
    assert len(parts.sink.activity) == 1
    assert (parts.sink.reads, parts.sink.rooms, parts.sink.batches) == ([], [], [])


async def test_a_resubscribed_activity_channel_forgets_the_newest_keys_it_heard(parts: Parts) -> None:
    heard = message("a", "x").key
    parts.bus.on_event(None, events.activity({"a": (heard, 1)}, origin="elsewhere"))
    assert parts.hub.newest("a") == heard
    parts.hub.learn_newest("a", message("a", "y").key)
    assert parts.hub.newest("a") != heard
    await parts.bus.subscribed(None)  # while it was away, rooms may have moved on unheard
    assert parts.hub.newest("a") is None


async def test_a_new_room_reaches_this_process_at_once_and_the_others_through_the_bus(parts: Parts) -> None:
    room = Room(id="game night", name="Game night")
    parts.hub.announce_room(room)
    assert parts.sink.rooms == [room]
    await parts.hub.flush(within=1)
    [(channel, event)] = parts.bus.published
    assert channel is None
    assert events.room_of(event) == room
    parts.bus.on_event(None, event)  # its own echo
    assert parts.sink.rooms == [room]
    other = Room(id="kitchen", name="Kitchen")
    parts.bus.on_event(None, events.room_added(other, origin="elsewhere"))
    assert parts.sink.rooms == [room, other]


async def test_read_markers_reach_this_process_at_once_and_the_others_in_one_event(parts: Parts) -> None:
    key = message("a", "x").key
    parts.hub.reads_here([("r1", "a", key)])
    assert parts.sink.reads == [("r1", "a", key)]
    parts.hub.announce_reads([("r1", "a", key), ("r2", "b", key)])
    parts.hub.announce_reads([])  # nothing to tell: no event
    await parts.hub.flush(within=1)
    [(channel, event)] = parts.bus.published
    assert channel is None
    assert events.reads_of(event) == [("r1", "a", key), ("r2", "b", key)]
    parts.bus.on_event(None, event)  # its own echo: already told
    assert parts.sink.reads == [("r1", "a", key)]
    parts.bus.on_event(None, events.reads([("r3", "c", key)], origin="elsewhere"))
    assert parts.sink.reads == [("r1", "a", key), ("r3", "c", key)]


async def test_a_session_end_here_or_elsewhere_reaches_the_sink_and_every_listener(parts: Parts) -> None:
    heard: list[str] = []
    parts.hub.on_every_session_end(heard.append)
    await parts.hub.announce_session_end("token-of-ivy")
    digest = session_digest("token-of-ivy")
    assert parts.sink.ended == heard == [digest]
    assert parts.bus.published == [(None, events.session_ended(digest))]
    parts.bus.on_event(None, events.session_ended("cd" * 32))  # ended in another process
    assert parts.sink.ended == heard == [digest, "cd" * 32]


# -- the hub of a service, on fakeredis -----------------------------------------------------------------------


async def test_catch_up_finds_messages_that_were_stored_but_never_announced(memory_service: ChatService) -> None:
    sink = RecordingSink()
    memory_service.hub.attach(sink)
    await show(memory_service.hub, "lobby")
    session = await memory_service.register("Kim")
    announced = await memory_service.send(session, "announced")
    silent = await memory_service.messages.put(memory_service.prepare(session, "stored, then the process died"))
    assert sink.of("lobby") == [announced]
    await memory_service.hub.catch_up("lobby")
    assert sink.of("lobby") == [announced, silent]
    await memory_service.hub.catch_up("lobby")
    assert sink.of("lobby") == [announced, silent]


async def test_since_serves_recent_gaps_from_memory_with_an_overlap(memory_service: ChatService) -> None:
    await show(memory_service.hub, "lobby")
    session = await memory_service.register("Lee")
    sent = [await memory_service.send(session, f"m{i}") for i in range(5)]
    # a reader whose newest message is sent[1] gets everything from a little before it: it drops what it has
    assert memory_service.hub.since("lobby", sent[1].key) == sent
    assert await memory_service.since("lobby", sent[1].key) == sent
    # the memory was primed from an empty room: it knows the whole room, however old the key
    assert memory_service.hub.since("lobby", "2000-01-01T00:00:00.000Z#0000000000000000") == sent


async def test_since_reads_dynamodb_where_memory_ends(
    memory_db: Dynamo, tables: TableNames, redis_server: FakeServer
) -> None:
    bus = Bus(redis=FakeAsyncRedis(server=redis_server), key=BUS_KEY)
    service = make_service(memory_db, tables, bus, recent_size=3)  # a small memory: the two oldest are let go
    await service.hub.start(catch_up_interval=3600)
    try:
        await show(service.hub, "lobby")
        session = await service.register("Lee")
        sent = [await service.send(session, f"m{i}") for i in range(5)]
        assert service.hub.since("lobby", sent[1].key) is None
        assert await service.since("lobby", sent[1].key) == sent
    finally:
        await service.hub.stop()


async def test_since_of_a_room_not_shown_here_reads_dynamodb(memory_service: ChatService) -> None:
    session = await memory_service.register("Lee")
    sent = [await memory_service.send(session, f"m{i}") for i in range(3)]
    assert memory_service.hub.since("lobby", None) is None
    assert await memory_service.since("lobby", None) == sent
