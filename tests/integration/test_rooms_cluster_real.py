"""Twenty rooms on a Redis Cluster of this test's own (three primaries) with DynamoDB Local: app processes as
main.py builds them, sharded pub/sub, and a shard restarted while every room is busy.

The rooms are chosen so that their channels land on all three shards. Two processes send; a third shows each room
in a tab. One shard's redis-server is killed and started again mid-stream: its rooms' announcements fail or go
unheard meanwhile, and once it is back its rooms are subscribed again and each catches up. The periodic catch-up
is an hour away, so what the tabs end with came live, from an announcement repeated once Redis answered, or from
the catch-up that each resubscription starts: every tab must then hold every message of its room, once, in key
order, and nothing of another room.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable

import pytest

from chat import events
from chat.errors import BusUnavailable
from chat.models import Message, Session
from tests.helpers import wait_for

from .cluster import Cluster, Node, make_rooms, stored
from .servers import RedisShards
from .shards import rooms_over_shards
from .tally import View, tally

pytestmark = pytest.mark.integration

Report = Callable[[str, object], None]

ROOMS = 20
PACE = 0.25  # seconds between two messages of one room: 80 messages a second over the twenty rooms


async def test_twenty_rooms_over_three_shards_lose_nothing_when_a_shard_restarts_mid_stream(
    cluster: Cluster, private_shards: RedisShards, record_property: Report
) -> None:
    url = private_shards.url
    placed = await rooms_over_shards(url, ROOMS, cluster.namespace)
    assert len(set(placed.values())) == 3, f"the rooms' channels do not land on three shards: {placed}"
    victim = private_shards.nodes[1]  # not the node the clients learn the cluster from
    on_victim = {room for room, port in placed.items() if port == victim.port}
    elsewhere = set(placed) - on_victim
    assert len(on_victim) >= 6

    senders = [await cluster.node(redis_url=url, redis_cluster=True) for _ in range(2)]
    reader = await cluster.node(redis_url=url, redis_cluster=True)
    sessions = [await node.service.register(f"Sender {i}") for i, node in enumerate(senders, 1)]
    rooms = [room.id for room in await make_rooms(senders[0], sessions[0], list(placed))]
    assert set(rooms) == set(placed)
    tabs: dict[str, View] = {room: await reader.show(room) for room in rooms}

    sent: dict[str, list[tuple[float, Message]]] = {room: [] for room in rooms}  # (when the send returned, message)
    done = asyncio.Event()

    async def send(node: Node, session: Session, room: str) -> None:
        n = 0
        while not done.is_set():
            message = await node.service.send(session, f"{room} {n}", room=room)
            sent[room].append((time.monotonic(), message))
            n += 1
            await asyncio.sleep(PACE)

    tasks = [asyncio.create_task(send(senders[i % 2], sessions[i % 2], room)) for i, room in enumerate(rooms)]
    try:
        await asyncio.sleep(1.0)
        victim.kill()
        killed = time.monotonic()
        await asyncio.sleep(3.0)  # past the cluster's node timeout: the other shards mark it failed and go on
        restarting = time.monotonic()
        await asyncio.to_thread(victim.start)
        resubscribed = await wait_for(lambda: all(reader.caught_up[r] == 2 for r in on_victim), timeout=30)
        back = time.monotonic()
        assert resubscribed, f"the restarted shard's rooms were not caught up: {dict(reader.caught_up)}"
        await asyncio.sleep(1.0)  # sending goes on after the resubscribe
    finally:
        done.set()
        await asyncio.gather(*tasks)

    keys = {room: [m.key for _, m in sent[room]] for room in rooms}
    converged = await wait_for(lambda: all(tabs[r].has_all(keys[r]) for r in rooms), timeout=15)
    in_dynamodb = {room: [m.key for m in await stored(reader.service, room)] for room in rooms}
    tallies = {room: tally(tabs[room], in_dynamodb[room]) for room in rooms}
    paths = Counter[str]()
    for room in on_victim:
        paths.update(tabs[room].paths)
    failures = sum(
        node.runtime.metrics.registry.get_sample_value("sinchchat_announce_failures_total") or 0 for node in senders
    )
    while_down = sum(1 for room in on_victim for at, _ in sent[room] if killed <= at < restarting)
    summary = (
        f"rooms={ROOMS} on_restarted_shard={len(on_victim)} sent={sum(map(len, sent.values()))} "
        f"sent_to_its_rooms_while_down={while_down} announce_failures={failures:g} "
        f"down={restarting - killed:.1f}s caught_up_after_restart={back - restarting:.2f}s "
        f"its_rooms_arrived_by[{' '.join(f'{k}={v}' for k, v in sorted(paths.items()))}]"
    )
    print(summary)
    record_property("summary", summary)
    for counts in tallies.values():
        record_property(counts.view, counts.line())

    assert converged, [t.line() for t in tallies.values() if t.lost]
    for room in rooms:
        # every message each send returned is stored once, and the tab holds exactly these, once, in key order
        assert sorted(keys[room]) == in_dynamodb[room], room
        counts = tallies[room]
        assert (counts.lost, counts.duplicated, counts.unexpected, counts.out_of_order) == (0, 0, 0, 0), counts
    assert reader.tabs.misplaced == []
    assert while_down > 0, "nothing was sent to the restarted shard's rooms while it was down"
    assert failures > 0, "no announcement failed: the shard was not down while its rooms sent"
    # the other shards kept their subscriptions: their rooms were caught up once, when their tab opened
    assert {reader.caught_up[room] for room in elsewhere} == {1}


async def test_while_no_shard_answers_posts_are_stored_and_announced_once_the_cluster_is_back(
    cluster: Cluster, private_shards: RedisShards, caplog: pytest.LogCaptureFixture
) -> None:
    """Every shard down: the cluster client cannot even read its slot map and raises RedisClusterException, which
    is no RedisError. A post must still be stored and answered (the rate limit counted by this process alone), its
    announcement must fail as BusUnavailable and be repeated once the cluster answers, and readiness says why."""
    caplog.set_level(logging.INFO)
    url = private_shards.url
    sender, reader = [await cluster.node(redis_url=url, redis_cluster=True) for _ in range(2)]
    session = await sender.service.register("Sender")
    tab = await reader.show(cluster.room)
    before = await sender.service.send(session, "before the outage")
    assert await wait_for(lambda: tab.has_all([before.key]), timeout=10)

    for shard in private_shards.nodes:
        shard.kill()
    during = [await sender.service.send(session, f"while no shard answers {i}") for i in range(3)]
    with pytest.raises(BusUnavailable):
        await sender.bus.publish(cluster.room, events.message_added(during[0]))
    readiness = await sender.runtime.health.ready()
    assert any(reason.startswith("redis: ") for reason in readiness.reasons), readiness.reasons

    for shard in private_shards.nodes:
        await asyncio.to_thread(shard.start)
    await asyncio.to_thread(private_shards.wait_ok)
    keys = [m.key for m in [before, *during]]
    # the repeated announcements and the reader's catch-up after it subscribes again both bring them: once each
    assert await wait_for(lambda: tab.has_all(keys), timeout=30), tab.paths
    assert [m.key for m in await stored(reader.service)] == keys
    counts = tally(tab, keys)
    assert (counts.lost, counts.duplicated, counts.unexpected, counts.out_of_order) == (0, 0, 0, 0), counts
    unannounced = [r for r in caplog.records if r.name == "chat.hub" and "could not announce" in r.getMessage()]
    assert unannounced, "no announcement failed while every shard was down"
    escaped = [r for r in caplog.records if r.exc_info and r.name == "asyncio"]
    assert escaped == [], [r.getMessage() for r in escaped]  # no announcement died as an unretrieved exception
    print(f"posts_while_down={len(during)} tab_arrived_by[{dict(tab.paths)}]")
