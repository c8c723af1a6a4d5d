"""The Redis bus on a real redis-server: one subscriber connection per process for every room it watches.

Tests that count connections or kill them use a private redis-server: on the shared one, other runs' subscribers
would be counted (or killed) too.
"""

from __future__ import annotations

import time

import pytest
from redis.asyncio import Redis

from chat import events
from chat.bus import activity_channel, channel_name
from chat.metrics import Metrics
from tests.helpers import wait_for

from .cluster import unique_room
from .listeners import Listener, eventually, message, subscriber_connections, subscribers
from .servers import RedisServer

pytestmark = pytest.mark.integration


async def has_no_subscriber(url: str, channel: str) -> bool:
    return await subscribers(url, [channel]) == [0]


async def test_two_processes_on_two_connections_both_receive_what_one_publishes(redis_url: str) -> None:
    room, elsewhere = unique_room(), unique_room()
    a, b, other = Listener(redis_url), Listener(redis_url), Listener(redis_url)
    a.bus.watch(room)
    b.bus.watch(room)
    other.bus.watch(elsewhere)
    listeners = (a, b, other)
    try:
        for listener in listeners:
            listener.start()
        assert await wait_for(lambda: all(len(x.subscribed) == 2 for x in listeners), timeout=10)

        first = events.message_added(message(room, "from a"))
        second = events.message_added(message(room, "from b, with ünïcode and <b>markup</b>"))
        await a.bus.publish(room, first)
        await b.bus.publish(room, second)
        assert await wait_for(lambda: len(a.of(room)) >= 2 and len(b.of(room)) >= 2, timeout=10)
        # Redis keeps the order of one channel: both see the same sequence, each event once
        assert a.of(room) == [first, second]
        assert b.of(room) == [first, second]
        assert events.message_of(b.of(room)[1]) == events.message_of(second)
        assert other.of(elsewhere) == []  # another room's channel hears nothing of this one
        assert [x.subscriptions(room) for x in (a, b)] == [1, 1]
    finally:
        for listener in listeners:
            await listener.bus.stop()


async def test_fifty_rooms_share_one_connection_and_each_delivers_its_own(private_redis: RedisServer) -> None:
    rooms = [unique_room() for _ in range(50)]
    listener = Listener(private_redis.url, namespace="it_")
    publisher = Listener(private_redis.url, namespace="it_")
    for room in rooms:
        listener.bus.watch(room)
    try:
        listener.start()
        assert await wait_for(lambda: len(listener.subscribed) == 51, timeout=10)
        assert {room for room, _ in listener.subscribed} == {*rooms, None}
        sent = {room: events.message_added(message(room, f"in {room}")) for room in rooms}
        for room, event in sent.items():
            await publisher.bus.publish(room, event)
        assert await wait_for(lambda: len(listener.events) == 50, timeout=10)
        assert listener.events == list(sent.items())

        [connection] = await subscriber_connections(private_redis.url)  # one process, one subscriber connection
        assert (connection["sub"], connection["ssub"]) == ("51", "0")
        channels = [activity_channel("it_"), *(channel_name(room, "it_") for room in rooms)]
        assert await subscribers(private_redis.url, channels) == [1] * 51
        assert listener.bus.watching == set(rooms)
    finally:
        await listener.bus.stop()
        await publisher.bus.stop()


async def test_an_unwatched_room_is_unsubscribed_and_delivers_nothing_more(private_redis: RedisServer) -> None:
    kept, dropped = unique_room(), unique_room()
    listener, publisher = Listener(private_redis.url), Listener(private_redis.url)
    listener.bus.watch(kept)
    listener.bus.watch(dropped)
    try:
        listener.start()
        assert await wait_for(lambda: len(listener.subscribed) == 3, timeout=10)
        before = events.message_added(message(dropped, "before"))
        await publisher.bus.publish(dropped, before)
        assert await wait_for(lambda: listener.of(dropped) == [before], timeout=10)

        listener.bus.unwatch(dropped)
        # this one may well reach Redis before the UNSUBSCRIBE does: the bus drops it all the same
        await publisher.bus.publish(dropped, events.message_added(message(dropped, "right after the unwatch")))
        channel = channel_name(dropped)
        assert await eventually(lambda: has_no_subscriber(private_redis.url, channel), timeout=2)
        await publisher.bus.publish(dropped, events.message_added(message(dropped, "long after")))
        still = events.message_added(message(kept, "the other room goes on"))
        await publisher.bus.publish(kept, still)
        assert await wait_for(lambda: listener.of(kept) == [still], timeout=10)
        assert listener.of(dropped) == [before]
        [connection] = await subscriber_connections(private_redis.url)
        assert connection["sub"] == "2"  # the activity channel and the room still watched
    finally:
        await listener.bus.stop()
        await publisher.bus.stop()


async def test_a_killed_connection_resubscribes_every_room_and_each_catches_up(private_redis: RedisServer) -> None:
    rooms = [unique_room() for _ in range(5)]
    metrics = Metrics()
    listener, publisher = Listener(private_redis.url, metrics=metrics), Listener(private_redis.url)
    for room in rooms:
        listener.bus.watch(room)
    admin = Redis.from_url(private_redis.url)
    try:
        listener.start()
        assert await wait_for(lambda: len(listener.subscribed) == 6, timeout=10)
        # as on a failover, or an output-buffer limit: Redis closes the subscriber's connection and stays up
        assert await admin.client_kill_filter(_type="pubsub") == 1
        assert await wait_for(lambda: len(listener.subscribed) == 12, timeout=10), listener.subscribed
        assert all(listener.subscriptions(room) == 2 for room in [*rooms, None])
        assert listener.bus.connected.is_set()
        assert metrics.registry.get_sample_value("sinchchat_subscriber_reconnects_total") == 1
        sent = events.message_added(message(rooms[0], "after the resubscribe"))
        await publisher.bus.publish(rooms[0], sent)
        assert await wait_for(lambda: listener.of(rooms[0]) == [sent], timeout=10)
        [connection] = await subscriber_connections(private_redis.url)
        assert connection["sub"] == "6"
    finally:
        await admin.aclose()
        await listener.bus.stop()
        await publisher.bus.stop()


async def test_a_restarted_redis_is_subscribed_again_and_every_room_catches_up(private_redis: RedisServer) -> None:
    rooms = [unique_room() for _ in range(3)]
    listener = Listener(private_redis.url)
    for room in rooms:
        listener.bus.watch(room)
    try:
        listener.start()
        assert await wait_for(lambda: len(listener.subscribed) == 4, timeout=10)
        private_redis.kill()
        assert await wait_for(lambda: not listener.bus.connected.is_set(), timeout=10)
        down = time.monotonic()
        private_redis.start()
        assert await wait_for(lambda: len(listener.subscribed) == 8, timeout=15)
        # the second subscription of each room came after the outage: that is when each caught up
        assert all(at > down for _, at in listener.subscribed[4:])
        assert listener.bus.connected.is_set()
    finally:
        await listener.bus.stop()


async def test_a_publish_after_redis_came_back_succeeds_on_a_connection_opened_before(
    private_redis: RedisServer,
) -> None:
    bus = Listener(private_redis.url).bus  # its Redis client as chat.runtime.Runtime makes it
    try:
        await bus.publish(None, events.session_ended("ab" * 32))  # the pool now holds one open connection
        private_redis.kill()
        private_redis.start()  # up and answering again before the next publish
        await bus.publish(unique_room(), events.session_ended("cd" * 32))
    finally:
        await bus.stop()
