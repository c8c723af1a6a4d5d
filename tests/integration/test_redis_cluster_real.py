"""The bus on a real Redis Cluster (three primaries): sharded pub/sub, one subscriber connection per shard.

The fault tests run on a cluster of their own (``private_shards``), never on the shared one. Which shard owns a
channel is read from the servers themselves (see ``shards``).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from chat import events
from chat.bus import Bus, activity_channel, channel_name, derive_key
from chat.bus.subscription import open_client
from chat.errors import BusUnavailable
from chat.events import Event
from chat.metrics import Metrics
from tests.e2e.processes import AppProcess
from tests.helpers import free_port, wait_for

from .cluster import unique_room
from .listeners import Listener, eventually, message, subscriber_connections, subscribers
from .servers import RedisServer, RedisShards
from .shards import owners, rooms_over_shards

pytestmark = pytest.mark.integration

Report = Callable[[str, object], None]

NAMESPACE = "it_"
ACTIVITY = activity_channel(NAMESPACE)


async def test_twenty_rooms_on_three_shards_each_deliver_over_one_connection_per_shard(
    private_shards: RedisShards, record_property: Report
) -> None:
    url = private_shards.url
    rooms = await rooms_over_shards(url, 20, NAMESPACE)
    assert len(set(rooms.values())) == 3, f"the rooms' channels do not land on three shards: {rooms}"
    activity_port = (await owners(url, [ACTIVITY]))[ACTIVITY]
    listener = Listener(url, cluster=True, namespace=NAMESPACE)
    publisher = Listener(url, cluster=True, namespace=NAMESPACE)
    for room in rooms:
        listener.bus.watch(room)
    try:
        listener.start()
        assert await wait_for(lambda: len(listener.subscribed) == 21, timeout=15)
        per_room = 5
        sent = {room: [events.message_added(message(room, f"{room} {n}")) for n in range(per_room)] for room in rooms}

        async def send(room: str) -> None:
            for event in sent[room]:
                await publisher.bus.publish(room, event)

        await asyncio.gather(*(send(room) for room in rooms))
        assert await wait_for(lambda: len(listener.events) == per_room * len(rooms), timeout=15)
        for room in rooms:
            assert listener.of(room) == sent[room]  # each room's own events, in order, once

        for node in private_shards.nodes:
            owned = [channel_name(room, NAMESPACE) for room, port in rooms.items() if port == node.port]
            owned += [ACTIVITY] if activity_port == node.port else []
            # one subscriber connection on each shard, holding exactly the channels that shard owns, by SSUBSCRIBE
            [connection] = await subscriber_connections(node.url)
            assert (connection["ssub"], connection["sub"]) == (str(len(owned)), "0")
            assert await subscribers(node.url, owned, sharded=True) == [1] * len(owned)
            assert await subscribers(node.url, owned) == [0] * len(owned)
        record_property("rooms per shard", sorted(Counter(rooms.values()).values()))

        # a shard that owns no watched channel any more keeps no connection of this process
        idle = next(node for node in private_shards.nodes if node.port != activity_port)
        for room in [room for room, port in rooms.items() if port == idle.port]:
            listener.bus.unwatch(room)

        async def unsubscribed() -> bool:
            return await subscriber_connections(idle.url) == []

        assert await eventually(unsubscribed, timeout=5)
        assert [len(await subscriber_connections(node.url)) for node in private_shards.nodes].count(1) == 2
    finally:
        await listener.bus.stop()
        await publisher.bus.stop()


async def test_a_restarted_shard_resubscribes_its_rooms_while_the_other_shards_keep_delivering(
    private_shards: RedisShards, caplog: pytest.LogCaptureFixture, record_property: Report
) -> None:
    caplog.set_level(logging.INFO)
    url = private_shards.url
    rooms = await rooms_over_shards(url, 6, NAMESPACE)
    victim = private_shards.nodes[1]  # not the node the clients learn the cluster from
    on_victim = {room for room, port in rooms.items() if port == victim.port}
    elsewhere = set(rooms) - on_victim
    assert len(on_victim) == 2
    metrics = Metrics()
    listener = Listener(url, cluster=True, namespace=NAMESPACE, metrics=metrics)
    for room in rooms:
        listener.bus.watch(room)
    # a publisher per room, each with a client of its own: what one client does about the dead shard (it closes
    # its connections and reads the slot map again) must not stall the others' publishes
    publishers = {room: Listener(url, cluster=True, namespace=NAMESPACE).bus for room in rooms}
    published: dict[str, list[tuple[float, Event]]] = {room: [] for room in rooms}  # (when it was sent, event)
    failed: Counter[str] = Counter()
    done = asyncio.Event()

    async def publish(room: str) -> None:
        n = 0
        while not done.is_set():
            event, n = events.message_added(message(room, f"{room} {n}")), n + 1
            started = time.monotonic()
            try:
                await publishers[room].publish(room, event)
                published[room].append((started, event))
            except BusUnavailable:
                failed[room] += 1
            await asyncio.sleep(0.03)

    senders: list[asyncio.Task[None]] = []
    try:
        listener.start()
        assert await wait_for(lambda: len(listener.subscribed) == 7, timeout=15)
        senders = [asyncio.create_task(publish(room)) for room in rooms]
        await asyncio.sleep(1.0)
        victim.kill()
        killed = time.monotonic()
        await asyncio.sleep(3.0)  # past the cluster's node timeout: the other shards mark it failed and go on
        restarting = time.monotonic()
        await asyncio.to_thread(victim.start)
        assert await wait_for(lambda: all(listener.subscriptions(r) == 2 for r in on_victim), timeout=30)
        back = max(listener.last_subscribed(room) for room in on_victim)
        await asyncio.sleep(1.0)  # sending goes on after the resubscribe
        done.set()
        await asyncio.gather(*senders)
        assert await wait_for(lambda: all(listener.of(r)[-1:] == [published[r][-1][1]] for r in rooms), timeout=10)

        summary = (
            f"down={restarting - killed:.1f}s resubscribed_after_restart={back - restarting:.2f}s "
            f"published={sum(map(len, published.values()))} failed={dict(failed)} "
            f"received={len(listener.events)}"
        )
        print(summary)
        record_property("summary", summary)
        for room in elsewhere:
            # the other shards delivered everything, the outage included, and never resubscribed
            assert listener.of(room) == [event for _, event in published[room]], room
            assert any(killed < at < restarting for at, _ in published[room]), "nothing was sent during the outage"
            assert listener.subscriptions(room) == 1
        for room in on_victim:
            assert failed[room] > 0, "no publish failed: the shard was not down while its rooms sent"
            received = listener.of(room)
            assert [e for _, e in published[room] if e in received] == received  # in order, once, nothing foreign
            assert listener.last_subscribed(room) > restarting
            # whatever the bus missed was sent before the resubscribe whose catch-up covers it
            missed = [at for at, event in published[room] if event not in received]
            assert all(at < listener.last_subscribed(room) for at in missed), (room, missed)
        assert listener.subscriptions(None) == (2 if (await owners(url, [ACTIVITY]))[ACTIVITY] == victim.port else 1)
        lost = [r.getMessage() for r in caplog.records if r.name == "chat.bus" and "lost the Redis" in r.getMessage()]
        [lost_on] = lost  # one connection was lost, once, however many reconnects failed while the shard was down
        assert f"127.0.0.1:{victim.port}" in lost_on
        assert metrics.registry.get_sample_value("sinchchat_subscriber_reconnects_total") == 1
    finally:
        done.set()
        await asyncio.gather(*senders, return_exceptions=True)
        await listener.bus.stop()
        for bus in publishers.values():
            await bus.stop()


async def cluster_command(node: RedisServer, *args: object) -> object:
    admin = Redis(host="127.0.0.1", port=node.port)
    try:
        return await admin.execute_command(*args)
    finally:
        await admin.aclose()


async def test_a_channel_whose_slot_moved_is_subscribed_again_on_its_new_shard(
    private_shards: RedisShards, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    url = private_shards.url
    room = unique_room()
    channel = channel_name(room, NAMESPACE)
    port = (await owners(url, [channel]))[channel]
    source = next(n for n in private_shards.nodes if n.port == port)
    target = next(n for n in private_shards.nodes if n.port != port)
    slot = int(await cluster_command(source, "CLUSTER", "KEYSLOT", channel))
    listener = Listener(url, cluster=True, namespace=NAMESPACE)
    publisher = Listener(url, cluster=True, namespace=NAMESPACE)
    listener.bus.watch(room)
    try:
        listener.start()
        assert await wait_for(lambda: len(listener.subscribed) == 2, timeout=15)
        assert await subscribers(source.url, [channel], sharded=True) == [1]

        # move the (empty) slot as redis-cli --cluster reshard does; the source then ends the subscription
        source_id, target_id = [str(await cluster_command(n, "CLUSTER", "MYID"), "ascii") for n in (source, target)]
        await cluster_command(target, "CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
        await cluster_command(source, "CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
        for node in (target, source, *(n for n in private_shards.nodes if n not in (source, target))):
            await cluster_command(node, "CLUSTER", "SETSLOT", slot, "NODE", target_id)

        assert await wait_for(lambda: listener.subscriptions(room) == 2, timeout=15), listener.subscribed
        assert await subscribers(target.url, [channel], sharded=True) == [1]
        assert await subscribers(source.url, [channel], sharded=True) == [0]
        sent = events.message_added(message(room, "on the new shard"))
        await publisher.bus.publish(room, sent)
        assert await wait_for(lambda: listener.of(room) == [sent], timeout=10)
        assert any(f"127.0.0.1:{source.port}" in r.getMessage() for r in caplog.records if r.name == "chat.bus")
    finally:
        await listener.bus.stop()
        await publisher.bus.stop()


async def test_the_app_on_a_cluster_is_ready_and_announces_a_posted_message_to_another_process(
    dynamodb_endpoint: str, redis_cluster_url: str, tmp_path: Path
) -> None:
    admin = Redis.from_url(redis_cluster_url)
    try:
        nodes = await admin.execute_command("CLUSTER NODES")
    finally:
        await admin.aclose()
    other_node = sorted(nodes)[-1]  # any node will do: the app finds the rest of the cluster from it
    secret, room, prefix = f"cluster-{uuid.uuid4().hex}-{uuid.uuid4().hex}", unique_room(), f"cl{uuid.uuid4().hex[:8]}_"
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONUNBUFFERED": "1",
        "CHAT_DYNAMODB_ENDPOINT": dynamodb_endpoint,
        "CHAT_REDIS_URL": f"redis://{other_node}",
        "CHAT_REDIS_CLUSTER": "1",
        "CHAT_STORAGE_SECRET": secret,
        "CHAT_TABLE_PREFIX": prefix,
        "CHAT_ROOM": room,
        "CHAT_PORT": str(free_port()),
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    received: list[Event] = []
    listener = Bus(redis=open_client(redis_cluster_url, cluster=True), namespace=prefix, key=derive_key(secret))
    listener.watch(room)

    async def nothing(_: str | None) -> None:
        return None

    listener.start(on_event=lambda _, event: received.append(event), on_subscribed=nothing)
    app = AppProcess(name="cluster-app", env=env, log_dir=tmp_path)
    try:
        assert await wait_for(listener.connected.is_set, timeout=10)
        await asyncio.to_thread(app.wait_ready)  # 200 from /api/ready: Redis answers and the subscriber is on
        async with httpx.AsyncClient(base_url=app.base_url, timeout=10) as client:
            token = (await client.post("/api/sessions", json={"name": "Clustered"})).json()["token"]
            answer = await client.post(
                "/api/messages", json={"text": "over the shards"}, headers={"Authorization": f"Bearer {token}"}
            )
            assert answer.status_code == 201, answer.text
            key = answer.json()["key"]
        assert await wait_for(lambda: any(events.message_of(e) for e in received), timeout=10)
        announced = next(m for m in map(events.message_of, received) if m is not None)
        assert (announced.key, announced.text) == (key, "over the shards")
        assert app.error_lines() == []
    finally:
        await listener.stop()
        app.stop_cleanly()
