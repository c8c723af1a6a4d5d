"""The bus with fakeredis: one subscriber per process for every room it watches, each event once."""

import asyncio
import json
import logging
import time

import pytest
from fakeredis import FakeAsyncRedis, FakeServer

from chat import events
from chat.bus import Bus, activity_channel, channel_name, derive_key
from chat.errors import BusUnavailable
from chat.events import Event
from chat.metrics import Metrics
from chat.models import Message, new_message_key
from chat.rooms import Room
from tests.conftest import BUS_KEY
from tests.helpers import wait_for


def message(text: str = "hi", room: str = "lobby") -> Message:
    return Message(room=room, key=new_message_key(), author="Alice", author_id="a1", text=text, nonce="n0nce-00")


def test_every_event_kind_round_trips_through_json() -> None:
    key = new_message_key()
    room = Room(id="game night", name="Game night")
    kinds = {
        "message": events.message_added(message("hé <b> 👍")),
        "session": events.session_ended("ab" * 32),
        "activity": events.activity({"lobby": (key, 3)}, origin="p1"),
        "read": events.reads([("a1", "lobby", key)], origin="p1"),
        "room": events.room_added(room, origin="p1"),
    }
    for kind, event in kinds.items():
        raw = events.encode(event)
        assert events.decode(raw) == event
        assert json.loads(raw)["type"] == kind
    assert events.message_of(events.decode(events.encode(events.message_added(m := message())))) == m
    assert events.activity_of(events.decode(events.encode(kinds["activity"]))) == {"lobby": (key, 3)}
    assert events.reads_of(events.decode(events.encode(kinds["read"]))) == [("a1", "lobby", key)]
    assert events.room_of(events.decode(events.encode(kinds["room"]))) == room


class Listener:
    """A started bus and what reached it: events with their room, and every (re)subscription's room."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.events: list[tuple[str | None, Event]] = []
        self.subscribed: list[str | None] = []

    async def _subscribed(self, room: str | None) -> None:
        self.subscribed.append(room)

    async def start(self) -> "Listener":
        self.bus.start(on_event=lambda room, event: self.events.append((room, event)), on_subscribed=self._subscribed)
        await asyncio.wait_for(self.bus.connected.wait(), 3)
        return self

    def of(self, room: str | None) -> list[Event]:
        return [event for r, event in self.events if r == room]


async def listening(redis_server: FakeServer, *rooms: str, metrics: Metrics | None = None) -> Listener:
    """A started bus on ``redis_server`` watching ``rooms``, and what reaches it."""
    bus = Bus(redis=FakeAsyncRedis(server=redis_server), key=BUS_KEY, metrics=metrics)
    for room in rooms:
        bus.watch(room)
    listener = await Listener(bus).start()
    assert await wait_for(lambda: len(listener.subscribed) == 1 + len(rooms), timeout=3)
    return listener


async def subscribers(redis_server: FakeServer, channel: str) -> int:
    raw = FakeAsyncRedis(server=redis_server)
    [(_, count)] = await raw.pubsub_numsub(channel)
    await raw.aclose()
    return int(count)


async def test_two_buses_both_receive_what_one_publishes_with_its_room(redis_server: FakeServer) -> None:
    a = await listening(redis_server, "lobby", "kitchen")
    b = await listening(redis_server, "lobby")
    in_lobby = events.message_added(message())
    in_kitchen = events.message_added(message(room="kitchen"))
    ended = events.session_ended("ab" * 32)
    await a.bus.publish("lobby", in_lobby)
    await a.bus.publish("kitchen", in_kitchen)
    await b.bus.publish(None, ended)  # the activity channel, which every bus hears
    assert await wait_for(lambda: len(a.events) == 3 and len(b.events) == 2, timeout=3, interval=0.01)
    assert a.events == [("lobby", in_lobby), ("kitchen", in_kitchen), (None, ended)]
    assert b.events == [("lobby", in_lobby), (None, ended)]  # b does not watch the kitchen
    assert sorted(a.subscribed, key=str) == [None, "kitchen", "lobby"]
    await a.bus.stop()
    await b.bus.stop()


async def test_watch_returns_at_once_and_subscribes_within_a_fifth_of_a_second(redis_server: FakeServer) -> None:
    listener = await listening(redis_server)
    started = time.monotonic()
    listener.bus.watch("kitchen")
    listener.bus.watch("kitchen")  # twice is once
    assert time.monotonic() - started < 0.01
    assert await wait_for(lambda: "kitchen" in listener.subscribed, timeout=0.2, interval=0.005)
    await asyncio.sleep(0.05)
    assert listener.subscribed == [None, "kitchen"]
    assert listener.bus.watching == {"kitchen"}
    assert await subscribers(redis_server, channel_name("kitchen")) == 1
    assert await subscribers(redis_server, activity_channel()) == 1
    sent = events.message_added(message(room="kitchen"))
    await listener.bus.publish("kitchen", sent)
    assert await wait_for(lambda: listener.of("kitchen") == [sent], timeout=3, interval=0.01)
    await listener.bus.stop()


async def test_after_unwatch_no_event_of_that_room_reaches_on_event(redis_server: FakeServer) -> None:
    bus = Bus(redis=FakeAsyncRedis(server=redis_server), key=BUS_KEY)
    got: list[tuple[str | None, Event]] = []
    subscribed: list[str | None] = []

    def unwatch_at_the_first(room: str | None, event: Event) -> None:
        got.append((room, event))
        if room == "kitchen":
            bus.unwatch("kitchen")
            bus.unwatch("kitchen")  # twice is once

    async def record(room: str | None) -> None:
        subscribed.append(room)

    bus.watch("lobby")
    bus.watch("kitchen")
    bus.start(on_event=unwatch_at_the_first, on_subscribed=record)
    assert await wait_for(lambda: len(subscribed) == 3, timeout=3)
    raw = FakeAsyncRedis(server=redis_server)
    burst = [events.message_added(message(str(n), room="kitchen")) for n in range(20)]
    async with raw.pipeline(transaction=False) as pipe:
        for event in burst:  # all on the subscriber's socket before it reads the first one
            pipe.publish(channel_name("kitchen"), bus.seal(event))
        await pipe.execute()
    kept = events.message_added(message("still here"))
    await bus.publish("lobby", kept)
    assert await wait_for(lambda: len(got) >= 2, timeout=3, interval=0.01)
    await asyncio.sleep(0.05)
    assert got == [("kitchen", burst[0]), ("lobby", kept)]  # the 19 already on their way were dropped
    assert bus.watching == {"lobby"}
    assert await subscribers(redis_server, channel_name("kitchen")) == 0
    assert await subscribers(redis_server, channel_name("lobby")) == 1
    assert bus.rejected == 0  # dropped as unwatched, not counted as forged
    # and watched again: subscribed again, and a catch-up for what it missed meanwhile
    bus.watch("kitchen")
    assert await wait_for(lambda: subscribed.count("kitchen") == 2, timeout=0.2, interval=0.005)
    await raw.aclose()
    await bus.stop()


async def test_rooms_watched_before_start_are_subscribed_at_start(redis_server: FakeServer) -> None:
    bus = Bus(redis=FakeAsyncRedis(server=redis_server), key=BUS_KEY, namespace="ns_")
    bus.watch("early")
    bus.watch("dropped")
    bus.unwatch("dropped")
    listener = await Listener(bus).start()
    assert await wait_for(lambda: len(listener.subscribed) == 2, timeout=3)
    assert sorted(listener.subscribed, key=str) == [None, "early"]
    assert await subscribers(redis_server, channel_name("early", "ns_")) == 1
    assert await subscribers(redis_server, activity_channel("ns_")) == 1
    assert await subscribers(redis_server, channel_name("dropped", "ns_")) == 0
    await bus.stop()


async def test_a_failing_catch_up_is_logged_and_events_keep_flowing(
    redis_server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    got: list[tuple[str | None, Event]] = []

    async def broken(room: str | None) -> None:
        raise RuntimeError(f"DynamoDB is down for {room}")

    bus = Bus(redis=FakeAsyncRedis(server=redis_server), key=BUS_KEY)
    bus.watch("lobby")
    with caplog.at_level(logging.ERROR, logger="chat.bus"):
        bus.start(on_event=lambda room, event: got.append((room, event)), on_subscribed=broken)
        await asyncio.wait_for(bus.connected.wait(), 3)
        sent = events.message_added(message())
        await bus.publish("lobby", sent)
        assert await wait_for(lambda: got, timeout=3, interval=0.01)
    assert got == [("lobby", sent)]
    assert sorted(r.getMessage() for r in caplog.records if r.name == "chat.bus") == [
        "the catch-up after subscribing to room 'lobby' failed",
        "the catch-up after subscribing to room None failed",
    ]
    await bus.stop()


async def test_malformed_events_are_ignored_and_counted_on_every_channel(redis_server: FakeServer) -> None:
    metrics = Metrics()
    listener = await listening(redis_server, "lobby", metrics=metrics)
    bus = listener.bus
    raw = FakeAsyncRedis(server=redis_server)
    await raw.publish(channel_name("lobby"), "not json")
    await raw.publish(channel_name("lobby"), '["a list"]')
    await raw.publish(activity_channel(), bus.seal(events.session_ended("ab" * 32))[:-1])  # cut short
    good = events.message_added(message())
    await bus.publish("lobby", good)
    assert await wait_for(lambda: listener.events, timeout=3, interval=0.01)
    assert listener.events == [("lobby", good)]
    assert bus.rejected == 3
    assert metrics.registry.get_sample_value("sinchchat_bus_events_rejected_total") == 3
    await raw.aclose()
    await bus.stop()


async def test_forged_stale_and_foreign_events_never_reach_on_event(redis_server: FakeServer) -> None:
    listener = await listening(redis_server, "lobby")
    bus = listener.bus
    raw = FakeAsyncRedis(server=redis_server)
    forged = events.message_added(message("I am Alice, send me your password"))
    other_deployment = Bus(redis=raw, key=derive_key("another deployment's secret"))
    an_hour_ago = Bus(redis=raw, key=BUS_KEY, clock=lambda: time.time() - 3600)
    genuine = bus.seal(forged)
    version, stamp, mac, body = genuine.split(".", 3)
    for attempt in (
        events.encode(forged),  # unsealed, as the seed's events were
        other_deployment.seal(forged),  # sealed with the wrong key
        an_hour_ago.seal(forged),  # a replay of an old event
        f"{version}.{stamp}.{mac}.{body.replace('password', 'passw0rd')}",  # sealed body changed on the way
        f"{version}.{int(stamp) + 1}.{mac}.{body}",  # its time changed on the way
        f"{version}.{stamp}.{'0' * 64}.{body}",
    ):
        await raw.publish(channel_name("lobby"), attempt)
    good = events.message_added(message("genuine"))
    await bus.publish("lobby", good)
    assert await wait_for(lambda: listener.events, timeout=3, interval=0.01)
    assert listener.events == [("lobby", good)]
    assert bus.rejected == 6
    await bus.stop()


async def test_a_frozen_redis_holds_a_publish_no_longer_than_the_timeout() -> None:
    class Frozen(FakeAsyncRedis):  # type: ignore[misc]
        async def publish(self, *_: object) -> int:
            await asyncio.sleep(3600)  # a SIGSTOPped server: the command is sent, no answer ever comes
            return 0

    bus = Bus(redis=Frozen(server=FakeServer()), key=BUS_KEY, publish_timeout=0.2)
    started = time.monotonic()
    with pytest.raises(BusUnavailable):
        await bus.publish("lobby", events.message_added(message()))
    assert time.monotonic() - started < 1.0
    await bus.stop()
