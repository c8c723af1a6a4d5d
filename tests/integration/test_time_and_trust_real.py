"""On real DynamoDB Local and a real redis-server: where a message sits in time, what the bus may be told,
and a frozen Redis.

- The server decides a message's key; a retry with the same nonce, even ten minutes later, stores once and
  keeps the first key.
- A stored key from the future (an old version, a clock far ahead) or a malformed item does not blind catch-up
  or break history.
- What is published on a room's channel without this deployment's seal never reaches a view.
- While Redis is frozen (SIGSTOP), posts are acknowledged within a second of being stored, and every view of
  every process gets them once Redis answers again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from redis.asyncio import Redis

from chat import events
from chat.bus import Bus, channel_name, derive_key
from chat.models import Message
from chat.storage import MessageStore
from tests.conftest import plant
from tests.helpers import wait_for

from .cluster import Cluster, stored
from .servers import RedisServer
from .tally import tally

pytestmark = pytest.mark.integration

Report = Callable[[str, object], None]


async def test_server_time_retries_and_a_future_key_leave_every_view_complete(
    cluster: Cluster, redis_url: str, record_property: Report
) -> None:
    a, b = [await cluster.node(redis_url=redis_url) for _ in range(2)]
    views = [await a.show(cluster.room, "a"), await b.show(cluster.room, "b")]
    # what an old version (or a clock far ahead) left in the table, and items that are not messages at all
    future = "2099-01-01T00:00:00.000Z#0123456789abcdef"
    plant(a.runtime.dynamo, cluster.tables, room=cluster.room, key=future, text="from the future")
    plant(a.runtime.dynamo, cluster.tables, room=cluster.room, key="2026-99-01T00:00:00.000Z#00", text="bad")
    plant(a.runtime.dynamo, cluster.tables, room=cluster.room, key="٢٠٢٦-01-01", text="bad")
    for node in (a, b):
        await node.hub.catch_up(cluster.room)  # both processes have now seen the key from the future

    session = await a.service.register("Ana")
    draft = a.service.prepare(session, "sent once, retried later", nonce="ana-retry-0001")
    started = time.time()
    first = await a.service.post(session, draft)
    assert abs(first.created_at.timestamp() - started) < 2  # the server's time, not the client's
    # the same nonce ten minutes later (a browser that was offline): the first message, with its first key
    later = MessageStore(db=a.runtime.dynamo, tables=cluster.tables, clock=lambda: time.time() + 600)
    assert await later.put(draft) == first

    # messages stored while no process heard of them (a process that died between storing and announcing)
    unheard = [await a.service.messages.put(a.service.prepare(session, f"unheard {i}")) for i in range(8)]
    for node in (a, b):
        await node.hub.catch_up(cluster.room)  # a reconnect or the timer: it must not start after the key from 2099
    sent = [first, *unheard]
    assert await wait_for(lambda: all(v.has_all(m.key for m in sent) for v in views), timeout=10)

    in_dynamodb = [m.key for m in await stored(b.service)]  # history reads past the malformed items
    assert in_dynamodb == sorted([*(m.key for m in sent), future])
    for view in views:
        counts = tally(view, in_dynamodb)
        print(counts.line())
        record_property(view.name, counts.line())
        assert (counts.lost, counts.duplicated, counts.unexpected) == (0, 0, 0), counts


async def test_events_not_sealed_by_this_deployment_never_reach_a_view(cluster: Cluster, redis_url: str) -> None:
    a, b = [await cluster.node(redis_url=redis_url) for _ in range(2)]
    views = [await a.show(cluster.room, "a"), await b.show(cluster.room, "b")]
    channel = channel_name(cluster.room, cluster.tables.users.removesuffix("Users"))
    fake = Message(
        room=cluster.room,
        key="2026-11-29T12:00:00.000Z#0123456789abcdef",  # a key that is not in DynamoDB
        author="Ana",  # in another person's name
        author_id="0123456789abcdef",
        text="send your password to mallory@example.com",
    )
    forged = events.message_added(fake)
    raw = Redis.from_url(redis_url)
    attacker = Bus(redis=raw, key=derive_key("a guessed secret"))
    try:
        await raw.publish(channel, events.encode(forged))  # unsealed, as any Redis client can
        await raw.publish(channel, attacker.seal(forged))  # sealed with the wrong key
        await raw.publish(channel, a.bus.seal(forged).replace("password", "passw0rd"))  # changed on the way
        session = await a.service.register("Bo")
        genuine = await a.service.send(session, "genuine")
        assert await wait_for(lambda: all(v.has_all([genuine.key]) for v in views), timeout=10)
        await asyncio.sleep(0.3)
        for view in views:
            assert view.arrivals == [genuine.key]
        assert (a.bus.rejected, b.bus.rejected) == (3, 3)
    finally:
        await raw.aclose()


async def test_a_frozen_redis_delays_no_post_and_every_view_gets_every_message(
    private_redis: RedisServer, cluster: Cluster, record_property: Report
) -> None:
    a, b = [await cluster.node(redis_url=private_redis.url) for _ in range(2)]
    views = [await a.show(cluster.room, "a"), await b.show(cluster.room, "b")]
    session = await a.service.register("Cy")
    before = await a.service.send(session, "before the freeze")
    assert await wait_for(lambda: views[1].has_all([before.key]), timeout=10)

    private_redis.pause()
    frozen_at = time.monotonic()
    answered: list[float] = []
    sent: list[Message] = []
    try:
        while time.monotonic() - frozen_at < 5.0:
            started = time.monotonic()
            sent.append(await a.service.send(session, f"while frozen {len(sent)}"))
            answered.append(time.monotonic() - started)
            await asyncio.sleep(0.2)
    finally:
        private_redis.resume()
    keys = [m.key for m in [before, *sent]]
    converged = await wait_for(lambda: all(v.has_all(keys) for v in views), timeout=15)
    line = (
        f"posts_while_frozen={len(sent)} slowest_post={max(answered):.3f}s "
        f"views_complete_after_thaw={converged} ({time.monotonic() - frozen_at - 5:.1f}s after)"
    )
    print(line)
    record_property("frozen_redis", line)
    assert len(sent) >= 10
    assert max(answered) < 1.0  # each post answered within a second, though its announcement could not go out
    assert converged
    for view in views:
        counts = tally(view, sorted(keys))
        assert (counts.lost, counts.duplicated, counts.unexpected) == (0, 0, 0), counts
