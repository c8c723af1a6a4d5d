"""The Redis bus on a real redis-server: every subscriber of a room gets what any of them publishes, once."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from chat import events
from chat.bus import Bus
from chat.events import Event
from chat.models import Message, new_message_key
from tests.conftest import BUS_KEY
from tests.helpers import wait_for

from .cluster import unique_room
from .servers import RedisServer

pytestmark = pytest.mark.integration


def message(room: str, text: str) -> Message:
    return Message(room=room, key=new_message_key(), author="Alice", author_id="a1", text=text)


async def test_two_buses_on_two_connections_both_receive_what_one_publishes(redis_url: str) -> None:
    room, elsewhere = unique_room(), unique_room()
    received: dict[str, list[Event]] = {"a": [], "b": [], "elsewhere": []}
    connects = {"a": 0, "b": 0, "elsewhere": 0}

    def counter(name: str):  # type: ignore[no-untyped-def]
        async def on_connect() -> None:
            connects[name] += 1

        return on_connect

    buses = {
        "a": Bus(redis=Redis.from_url(redis_url), room=room, key=BUS_KEY),
        "b": Bus(redis=Redis.from_url(redis_url), room=room, key=BUS_KEY),
        "elsewhere": Bus(redis=Redis.from_url(redis_url), room=elsewhere, key=BUS_KEY),
    }
    try:
        for name, bus in buses.items():
            bus.start(on_event=received[name].append, on_connect=counter(name))
        assert await wait_for(lambda: all(b.connected.is_set() for b in buses.values()), timeout=10)

        first = events.message_added(message(room, "from a"))
        second = events.message_added(message(room, "from b, with ünïcode and <b>markup</b>"))
        ended = events.session_ended("ab" * 32)
        await buses["a"].publish(first)
        await buses["b"].publish(second)
        await buses["a"].publish(ended)
        assert await wait_for(lambda: len(received["a"]) >= 3 and len(received["b"]) >= 3, timeout=10)
        # Redis keeps the order of one channel: both see the same sequence, each event once
        assert received["a"] == [first, second, ended]
        assert received["b"] == [first, second, ended]
        assert events.message_of(received["b"][1]) == events.message_of(second)
        assert received["elsewhere"] == []  # another room's channel hears nothing of this one
        assert connects == {"a": 1, "b": 1, "elsewhere": 1}
    finally:
        for bus in buses.values():
            await bus.stop()


async def test_a_publish_after_redis_came_back_succeeds_on_a_connection_opened_before(
    private_redis: RedisServer,
) -> None:
    # the Redis client as chat.runtime.Runtime makes it
    bus = Bus(
        redis=Redis.from_url(private_redis.url, health_check_interval=10, socket_connect_timeout=2),
        room=unique_room(),
        key=BUS_KEY,
    )
    try:
        await bus.publish(events.session_ended("ab" * 32))  # the pool now holds one open connection
        private_redis.kill()
        private_redis.start()  # up and answering again before the next publish
        await bus.publish(events.session_ended("cd" * 32))
    finally:
        await bus.stop()
