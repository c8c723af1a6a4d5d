"""Rooms on a real redis-server and DynamoDB Local, between two app processes (two nodes, each with its own Redis
client, Bus and Hub): a room's messages reach the other process's tabs of that room and of no other, a process
subscribes to a room's channel only while one of its tabs shows the room, and after a dropped subscription each
room catches up on what was posted meanwhile.

The channels are named after the test's table prefix, so PUBSUB NUMSUB on the shared redis-server counts only
this test's processes; the test that kills a connection does it on a private redis-server.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable

import pytest
import redis

from chat import events
from chat.bus import channel_name
from chat.bus.placement import SUBSCRIBER_NAME
from chat.models import Message
from tests.helpers import wait_for

from .cluster import Cluster, make_rooms, stored, unique_room
from .listeners import eventually, subscribers
from .servers import RedisServer
from .tally import View, tally

pytestmark = pytest.mark.integration

Report = Callable[[str, object], None]


async def check_tabs(cluster: Cluster, tabs: list[tuple[str, list[View]]], record_property: Report) -> None:
    """Every tab holds exactly what DynamoDB holds for its room: nothing lost, twice, foreign or out of order."""
    for room, views in tabs:
        keys = [m.key for m in await stored(cluster.nodes[0].service, room)]
        for view in views:
            counts = tally(view, keys)
            print(counts.line())
            record_property(view.name, counts.line())
            assert (counts.lost, counts.duplicated, counts.unexpected, counts.out_of_order) == (0, 0, 0, 0), counts


async def test_a_message_reaches_the_other_process_tabs_of_its_room_and_no_other(
    cluster: Cluster, redis_url: str, record_property: Report
) -> None:
    one, two = [await cluster.node(redis_url=redis_url) for _ in range(2)]
    alice = await one.service.register("Alice")
    bob = await two.service.register("Bob")
    a, b, unseen = [room.id for room in await make_rooms(one, alice, [unique_room() for _ in range(3)])]
    # process one shows a and b; process two shows a in two tabs and b in one; nobody shows the third room
    mine = {a: [await one.show(a)], b: [await one.show(b)]}
    theirs = {a: [await two.show(a), await two.show(a)], b: [await two.show(b)]}

    sent: dict[str, list[Message]] = {a: [], b: [], unseen: []}
    for i in range(10):
        sent[a].append(await one.service.send(alice, f"in a {i}", room=a))
    for i in range(5):
        sent[b].append(await one.service.send(alice, f"in b {i}", room=b))
    sent[b].append(await two.service.send(bob, "in b from the other process", room=b))
    for i in range(3):
        sent[unseen].append(await one.service.send(alice, f"in the unseen room {i}", room=unseen))
    keys = {room: [m.key for m in messages] for room, messages in sent.items()}
    arrived = await wait_for(
        lambda: all(view.has_all(keys[room]) for tabs in (mine, theirs) for room in tabs for view in tabs[room]),
        timeout=10,
    )
    assert arrived, "live delivery stalled"

    await check_tabs(cluster, [*mine.items(), *theirs.items()], record_property)
    # the other process heard one's messages through Redis (its periodic catch-up is an hour away), its own at once
    assert [view.paths for view in theirs[a]] == [Counter(redis=10)] * 2
    assert theirs[b][0].paths == Counter(redis=5, own_process=1)
    assert one.tabs.misplaced == two.tabs.misplaced == []
    # nobody shows the third room: no process holds it or subscribes to its channel
    assert one.hub.open_rooms == two.hub.open_rooms == {a, b}
    assert one.bus.watching == two.bus.watching == {a, b}
    channels = [channel_name(room, cluster.namespace) for room in (a, b, unseen)]
    assert await subscribers(redis_url, channels) == [2, 2, 0]
    assert len(await stored(two.service, unseen)) == 3  # stored all the same


async def test_a_process_subscribes_to_a_room_only_while_a_tab_of_it_shows_it(
    cluster: Cluster, redis_url: str, record_property: Report
) -> None:
    linger = 1.0
    one, two = [await cluster.node(redis_url=redis_url, linger=linger) for _ in range(2)]
    alice = await one.service.register("Alice")
    [room] = [r.id for r in await make_rooms(one, alice, [unique_room()])]
    channel = channel_name(room, cluster.namespace)

    async def subscribed() -> int:
        [count] = await subscribers(redis_url, [channel])
        return count

    async def subscribed_by(count: int) -> bool:
        return await subscribed() == count

    assert await subscribed() == 0
    first = await one.show(room)  # returns once the server confirmed the subscription
    assert await subscribed() == 1
    second = await one.show(room)
    assert await subscribed() == 1  # one subscription per process, however many of its tabs show the room
    there = await two.show(room)
    assert await subscribed() == 2

    one.tabs.close(room, first)
    assert await subscribed() == 2  # a tab of the room is still open
    one.tabs.close(room, second)
    assert await subscribed() == 2  # the last tab closed: the room lingers, so that a reload finds it warm
    again = one.tabs.open(room)  # a reload within the linger takes the lingering room back
    await asyncio.sleep(linger + 0.5)  # past the linger of the tabs that closed
    assert await subscribed() == 2
    assert one.caught_up[room] == 1  # never unsubscribed, so never caught up again

    one.tabs.close(room, again)
    closed = time.monotonic()
    assert await eventually(lambda: subscribed_by(1), timeout=linger + 5)
    let_go = time.monotonic() - closed
    assert room not in one.hub.open_rooms
    assert room not in one.bus.watching
    # a message now reaches the process that shows the room, and nothing of it stays in the one that let go
    message = await two.service.send(alice, "after the first process let go", room=room)
    assert await wait_for(lambda: there.has_all([message.key]), timeout=10)
    assert one.hub.since(room, None) is None

    two.tabs.close(room, there)
    assert await eventually(lambda: subscribed_by(0), timeout=linger + 5)
    line = f"linger={linger}s unsubscribed_after={let_go:.2f}s"
    print(line)
    record_property("linger", line)
    assert linger <= let_go


async def test_after_a_dropped_subscription_each_room_catches_up_on_what_was_posted_meanwhile(
    cluster: Cluster, private_redis: RedisServer, record_property: Report
) -> None:
    """The reader's subscriber connection is killed (CLIENT KILL, as on a failover or an output-buffer limit) while
    Redis stays up, and messages of three rooms are announced before it can subscribe again.

    The kill and the announcements are made with a blocking Redis client, so this test's event loop (which runs
    both processes) does not turn in between: the reader cannot notice the kill, let alone subscribe again, before
    the announcements are out. What it missed can then only come from the catch-up that its resubscription starts.
    """
    sender, reader = [await cluster.node(redis_url=private_redis.url) for _ in range(2)]
    alice = await sender.service.register("Alice")
    rooms = [room.id for room in await make_rooms(sender, alice, [unique_room() for _ in range(3)])]
    tabs = {room: [await reader.show(room)] for room in rooms}
    tabs[rooms[0]].append(await sender.show(rooms[0]))  # the sender shows the first room: its connection stays

    before = {room: await sender.service.send(alice, "before the drop", room=room) for room in rooms}
    assert await wait_for(lambda: all(tabs[r][0].has_all([before[r].key]) for r in rooms), timeout=10)
    # stored now, announced below while the reader is not subscribed
    missed = {
        room: [
            await sender.service.messages.put(sender.service.prepare(alice, f"missed {i}", room=room)) for i in range(3)
        ]
        for room in rooms
    }

    admin = redis.Redis.from_url(private_redis.url)
    try:
        # the reader's subscriber is the connection with the activity channel and its three rooms
        [reader_connection] = [
            c for c in admin.client_list() if c["name"] == SUBSCRIBER_NAME and c["sub"] == str(1 + len(rooms))
        ]
        assert admin.client_kill_filter(_id=reader_connection["id"]) == 1
        for room, messages in missed.items():
            for message in messages:
                admin.publish(channel_name(room, cluster.namespace), sender.bus.seal(events.message_added(message)))
        # who could hear them: only the sender, in the one room it shows
        listening = admin.pubsub_numsub(*(channel_name(room, cluster.namespace) for room in rooms))
    finally:
        admin.close()
    assert [int(count) for _, count in listening] == [1, 0, 0]

    missed_keys = {room: [m.key for m in messages] for room, messages in missed.items()}
    caught_up = await wait_for(
        lambda: all(reader.caught_up[r] == 2 and tabs[r][0].has_all(missed_keys[r]) for r in rooms), timeout=10
    )
    assert caught_up, "the reader did not subscribe again and catch up"
    after = {room: await sender.service.send(alice, "after the resubscribe", room=room) for room in rooms}
    assert await wait_for(lambda: all(tabs[r][0].has_all([after[r].key]) for r in rooms), timeout=10)

    await check_tabs(cluster, list(tabs.items()), record_property)
    for room in rooms:
        # per room: what was announced while the reader was away came by its catch-up, the rest live
        assert tabs[room][0].paths == Counter(redis=2, reconnect_catch_up=3), (room, tabs[room][0].paths)
    assert tabs[rooms[0]][1].paths == Counter(own_process=2, redis=3)  # the sender heard the announcements live
    assert sender.caught_up[rooms[0]] == 1  # its own connection was never dropped
    line = f"rooms=3 missed_per_room=3 reader_catch_ups={dict(reader.caught_up)}"
    print(line)
    record_property("dropped_subscription", line)
