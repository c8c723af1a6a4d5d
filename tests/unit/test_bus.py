"""The bus and the feed with fakeredis: one subscriber per process, each message once to every view."""

import asyncio
import json

from fakeredis import FakeAsyncRedis, FakeServer

from chat import events
from chat.bus import Bus, channel_name
from chat.models import Message, new_message_key
from chat.service import ChatService


def message(text: str = "hi") -> Message:
    return Message(room="lobby", key=new_message_key(), author="Alice", author_key="alice", text=text)


async def wait_for(predicate, timeout: float = 3.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


def test_every_event_kind_round_trips_through_json() -> None:
    for event in (events.message_added(message("hé <b> 👍")), events.session_ended("ab" * 32)):
        raw = events.encode(event)
        assert events.decode(raw) == event
        assert json.loads(raw)["type"] in ("message", "session")
    assert events.message_of(events.decode(events.encode(events.message_added(m := message())))) == m


async def test_two_buses_both_receive_what_one_publishes(redis_server: FakeServer) -> None:
    received: dict[str, list[dict]] = {"a": [], "b": []}

    async def nothing() -> None:
        return None

    a = Bus(redis=FakeAsyncRedis(server=redis_server), room="lobby")
    b = Bus(redis=FakeAsyncRedis(server=redis_server), room="lobby")
    a.start(on_event=received["a"].append, on_connect=nothing)
    b.start(on_event=received["b"].append, on_connect=nothing)
    await asyncio.wait_for(asyncio.gather(a.connected.wait(), b.connected.wait()), 3)
    sent = events.message_added(message())
    await a.publish(sent)
    await wait_for(lambda: received["a"] and received["b"])
    assert received == {"a": [sent], "b": [sent]}
    await a.stop()
    await b.stop()


async def test_malformed_events_are_ignored_and_the_subscriber_keeps_going(redis_server: FakeServer) -> None:
    got: list[dict] = []

    async def nothing() -> None:
        return None

    bus = Bus(redis=FakeAsyncRedis(server=redis_server), room="lobby")
    bus.start(on_event=got.append, on_connect=nothing)
    await asyncio.wait_for(bus.connected.wait(), 3)
    raw = FakeAsyncRedis(server=redis_server)
    await raw.publish(channel_name("lobby"), "not json")
    await raw.publish(channel_name("lobby"), '["a list"]')
    good = events.message_added(message())
    await bus.publish(good)
    await wait_for(lambda: got)
    assert got == [good]
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
    silent = memory_service.prepare(session, "stored, then the process died")
    await memory_service._messages.put(silent)  # the write without the publish
    assert [m.text for m in got] == ["announced"]
    await memory_service.feed.catch_up()
    assert got == [announced, silent]
    await memory_service.feed.catch_up()
    assert got == [announced, silent]


async def test_since_serves_recent_gaps_from_memory(memory_service: ChatService) -> None:
    session = await memory_service.register("Lee")
    sent = [await memory_service.send(session, f"m{i}") for i in range(5)]
    assert memory_service.feed.since(sent[1].key) == sent[2:]
    assert await memory_service.since(sent[1].key) == sent[2:]
    assert memory_service.feed.since("2000-01-01T00:00:00.000Z") is None  # older than memory: DynamoDB answers
    assert await memory_service.since("2000-01-01T00:00:00.000Z") == sent
