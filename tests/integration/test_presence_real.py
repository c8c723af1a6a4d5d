"""Who is in a room, across app processes on the real Redis (a single server, and the Redis Cluster by sharded
pub/sub with the room's presence hash on the room's shard): each process sees the others' people, a process that
opens the room knows at once who is there, and a process that stops heart-beating drops off within the expiry."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from chat.presence_feed import PresenceTiming
from tests.helpers import wait_for

from .cluster import Cluster

pytestmark = pytest.mark.integration

TIMING = PresenceTiming(heartbeat=1.0, expiry=3.0, publish_interval=0.2)


@pytest.mark.parametrize("kind", ["redis", "cluster"])
async def test_processes_see_each_other_s_people_and_a_silent_one_drops_off(
    cluster: Cluster,
    redis_url: str,
    redis_cluster_url: str,
    kind: str,
    record_property: Callable[[str, object], None],
) -> None:
    url, sharded = (redis_url, False) if kind == "redis" else (redis_cluster_url, True)
    room = cluster.room
    one, two = [await cluster.node(redis_url=url, redis_cluster=sharded, presence_timing=TIMING) for _ in range(2)]
    for node in (one, two):
        await node.show(room)
    one.hub.presence.join(room, "a1", "Ana")
    two.hub.presence.join(room, "b1", "Bo")
    both = {"a1": "Ana", "b1": "Bo"}
    for node in (one, two):
        assert await wait_for(lambda node=node: node.hub.presence.people(room) == both, timeout=3)  # type: ignore[misc]

    # a third process knows who is there as soon as it hears the room, before anybody's heartbeat; the API too
    three = await cluster.node(redis_url=url, redis_cluster=sharded, presence_timing=TIMING)
    assert await three.service.presence(room) == [("a1", "Ana"), ("b1", "Bo")]
    await three.show(room)
    assert three.hub.presence.people(room) == both

    # one stops heart-beating (as when killed): the others let its people go within the expiry
    await one.hub.presence.stop()
    stopped = time.monotonic()
    assert await wait_for(lambda: two.hub.presence.people(room) == {"b1": "Bo"}, timeout=TIMING.expiry + 2)
    took = time.monotonic() - stopped
    record_property("dropped_after_seconds", round(took, 2))
    assert took <= TIMING.expiry + 0.5
    assert await wait_for(lambda: three.hub.presence.people(room) == {"b1": "Bo"}, timeout=1)
    assert await three.service.presence(room) == [("b1", "Bo")]
    assert set(await two.bus.presence(room, now=time.time())) == {two.hub.presence.origin}  # the hash let it go
