"""The bus and the feed with fakeredis: one subscriber per process, each message once to every view."""

import asyncio
import json
import time

import pytest
from fakeredis import FakeAsyncRedis, FakeServer

from chat import events
from chat.bus import Bus, channel_name, derive_key
from chat.errors import BusUnavailable
from chat.models import Message, new_message_key
from chat.service import ChatService
from chat.storage import Dynamo, TableNames
from tests.conftest import BUS_KEY, make_service
from tests.helpers import wait_for


def message(text: str = "hi") -> Message:
    return Message(room="lobby", key=new_message_key(), author="Alice", author_id="a1", text=text, nonce="n0nce-00")


def test_every_event_kind_round_trips_through_json() -> None:
    for event in (events.message_added(message("hé <b> 👍")), events.session_ended("ab" * 32)):
        raw = events.encode(event)
        assert events.decode(raw) == event
        assert json.loads(raw)["type"] in ("message", "session")
    assert events.message_of(events.decode(events.encode(events.message_added(m := message())))) == m


async def listening(redis_server: FakeServer) -> tuple[Bus, list[dict]]:
    """A started bus on ``redis_server`` and the list its subscriber appends every event it takes to."""
    got: list[dict] = []

    async def nothing() -> None:
        return None

    bus = Bus(redis=FakeAsyncRedis(server=redis_server), room="lobby", key=BUS_KEY)
    bus.start(on_event=got.append, on_connect=nothing)
    await asyncio.wait_for(bus.connected.wait(), 3)
    return bus, got


async def test_two_buses_both_receive_what_one_publishes(redis_server: FakeServer) -> None:
    received: dict[str, list[dict]] = {"a": [], "b": []}

    async def nothing() -> None:
        return None

    a = Bus(redis=FakeAsyncRedis(server=redis_server), room="lobby", key=BUS_KEY)
    b = Bus(redis=FakeAsyncRedis(server=redis_server), room="lobby", key=BUS_KEY)
    a.start(on_event=received["a"].append, on_connect=nothing)
    b.start(on_event=received["b"].append, on_connect=nothing)
    await asyncio.wait_for(asyncio.gather(a.connected.wait(), b.connected.wait()), 3)
    sent = events.message_added(message())
    await a.publish(sent)
    assert await wait_for(lambda: received["a"] and received["b"], timeout=3, interval=0.01)
    assert received == {"a": [sent], "b": [sent]}
    await a.stop()
    await b.stop()


async def test_malformed_events_are_ignored_and_the_subscriber_keeps_going(redis_server: FakeServer) -> None:
    bus, got = await listening(redis_server)
    raw = FakeAsyncRedis(server=redis_server)
    await raw.publish(channel_name("lobby"), "not json")
    await raw.publish(channel_name("lobby"), '["a list"]')
    await raw.publish(channel_name("lobby"), bus.seal(events.message_added(message()))[:-1])  # cut short
    good = events.message_added(message())
    await bus.publish(good)
    assert await wait_for(lambda: got, timeout=3, interval=0.01)
    assert got == [good]
    assert bus.rejected == 3
    await bus.stop()


async def test_forged_stale_and_foreign_events_never_reach_the_feed(redis_server: FakeServer) -> None:
    bus, got = await listening(redis_server)
    raw = FakeAsyncRedis(server=redis_server)
    forged = events.message_added(message("I am Alice, send me your password"))
    other_deployment = Bus(redis=raw, room="lobby", key=derive_key("another deployment's secret"))
    an_hour_ago = Bus(redis=raw, room="lobby", key=BUS_KEY, clock=lambda: time.time() - 3600)
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
    await bus.publish(good)
    assert await wait_for(lambda: got, timeout=3, interval=0.01)
    assert got == [good]
    assert bus.rejected == 6
    await bus.stop()


async def test_a_frozen_redis_holds_a_publish_no_longer_than_the_timeout() -> None:
    class Frozen(FakeAsyncRedis):  # type: ignore[misc]
        async def publish(self, *_: object) -> int:
            await asyncio.sleep(3600)  # a SIGSTOPped server: the command is sent, no answer ever comes
            return 0

    bus = Bus(redis=Frozen(server=FakeServer()), room="lobby", key=BUS_KEY, publish_timeout=0.2)
    started = time.monotonic()
    with pytest.raises(BusUnavailable):
        await bus.publish(events.message_added(message()))
    assert time.monotonic() - started < 1.0
    await bus.stop()


async def test_feed_delivers_each_key_once_in_key_order_and_survives_a_broken_view(
    memory_service: ChatService,
) -> None:
    feed = memory_service.feed
    good: list[Message] = []

    def broken(_: list[Message]) -> None:
        raise RuntimeError("this view is gone")

    feed.subscribe(broken)
    feed.subscribe(good.extend)
    first, second = sorted((message("1"), message("2")), key=lambda m: m.key)
    feed.deliver([second, first])
    feed.deliver([first])
    feed.on_event(events.message_added(second))
    assert good == [first, second]


async def test_removed_listeners_get_nothing(memory_service: ChatService) -> None:
    got: list[Message] = []
    remove = memory_service.feed.subscribe(got.extend)
    assert memory_service.feed.listener_count == 1
    remove()
    memory_service.feed.deliver([message()])
    assert got == []
    assert memory_service.feed.listener_count == 0


async def test_catch_up_finds_messages_that_were_stored_but_never_announced(
    memory_service: ChatService,
) -> None:
    got: list[Message] = []
    memory_service.feed.subscribe(got.extend)
    session = await memory_service.register("Kim")
    announced = await memory_service.send(session, "announced")
    silent = await memory_service.messages.put(memory_service.prepare(session, "stored, then the process died"))
    assert [m.text for m in got] == ["announced"]
    await memory_service.feed.catch_up()
    assert got == [announced, silent]
    await memory_service.feed.catch_up()
    assert got == [announced, silent]


async def test_since_serves_recent_gaps_from_memory_with_an_overlap(memory_service: ChatService) -> None:
    session = await memory_service.register("Lee")
    sent = [await memory_service.send(session, f"m{i}") for i in range(5)]
    # a reader whose newest message is sent[1] gets everything from a little before it: it drops what it has
    assert memory_service.feed.since(sent[1].key) == sent
    assert await memory_service.since(sent[1].key) == sent
    # the feed was primed from an empty room: it knows the whole room, however old the key
    assert memory_service.feed.since("2000-01-01T00:00:00.000Z#0000000000000000") == sent


async def test_since_reads_dynamodb_where_memory_ends(
    memory_db: Dynamo, tables: TableNames, redis_server: FakeServer
) -> None:
    bus = Bus(redis=FakeAsyncRedis(server=redis_server), room="lobby", key=BUS_KEY)
    service = make_service(memory_db, tables, bus, recent_size=3)  # a small memory: the two oldest are let go
    await service.feed.start(catch_up_interval=3600)
    try:
        session = await service.register("Lee")
        sent = [await service.send(session, f"m{i}") for i in range(5)]
        assert service.feed.since(sent[1].key) is None
        assert await service.since(sent[1].key) == sent
    finally:
        await service.feed.stop()
