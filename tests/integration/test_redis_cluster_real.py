"""The live path on a real Redis Cluster (three primaries): sharded pub/sub spreads rooms over the shards.

Today a process serves one room, so a "room" here is a pair of nodes (app processes) on that room: one sends,
one only reads. Which shard owns a room's channel is read from the servers themselves (CLUSTER KEYSLOT and
CLUSTER NODES), not from redis-py's routing that the code under test uses.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from chat import events
from chat.bus import Bus, channel_name, derive_key
from chat.events import Event
from chat.storage import TableNames
from tests.e2e.processes import AppProcess
from tests.helpers import free_port, wait_for

from .cluster import Cluster, Node, stored, unique_room
from .servers import RedisShards
from .tally import View, tally

pytestmark = pytest.mark.integration

Report = Callable[[str, object], None]


async def shard_ports(url: str, channels: list[str]) -> dict[str, int]:
    """The port of the primary that owns each channel, as the cluster itself tells."""
    admin = Redis.from_url(url)
    try:
        nodes = await admin.execute_command("CLUSTER NODES")
        ranges = [
            (int(slots[0]), int(slots[-1]), int(address.rsplit(":", 1)[1]))
            for address, node in nodes.items()
            if "master" in node["flags"]
            for slots in node["slots"]
        ]
        owners = {}
        for channel in channels:
            slot = int(await admin.execute_command("CLUSTER KEYSLOT", channel))
            owners[channel] = next(port for low, high, port in ranges if low <= slot <= high)
        return owners
    finally:
        await admin.aclose()


async def rooms_over_shards(url: str, tables: TableNames, count: int) -> dict[str, int]:
    """``count`` new rooms, as evenly spread over the shards as their channels allow: room -> owner's port."""
    namespace = tables.users.removesuffix("Users")
    candidates = [unique_room() for _ in range(count * 10)]
    owners = await shard_ports(url, [channel_name(room, namespace) for room in candidates])
    by_port: dict[int, list[str]] = {}
    for room in candidates:
        by_port.setdefault(owners[channel_name(room, namespace)], []).append(room)
    chosen: dict[str, int] = {}
    while len(chosen) < count:
        for port, rooms in by_port.items():
            if rooms and len(chosen) < count:
                chosen[rooms.pop()] = port
    return chosen


async def room_pairs(
    endpoint: str, tables: TableNames, rooms: dict[str, int], url: str
) -> list[tuple[Cluster, Node, Node, View, View]]:
    """Per room a sender and a reader node on the cluster, each with one view."""
    pairs = []
    for room in rooms:
        group = Cluster(endpoint=endpoint, tables=tables, room=room)
        sender, reader = [await group.node(redis_url=url, redis_cluster=True) for _ in range(2)]
        views = View(f"{room} sender"), View(f"{room} reader")
        sender.feed.subscribe(views[0])
        reader.feed.subscribe(views[1])
        pairs.append((group, sender, reader, *views))
    return pairs


async def test_twenty_rooms_on_all_three_shards_each_deliver_to_their_own_views(
    dynamodb_endpoint: str, real_tables: TableNames, redis_cluster_url: str, record_property: Report
) -> None:
    rooms = await rooms_over_shards(redis_cluster_url, real_tables, 20)
    assert len(set(rooms.values())) == 3, f"the rooms' channels do not land on three shards: {rooms}"
    pairs = await room_pairs(dynamodb_endpoint, real_tables, rooms, redis_cluster_url)
    try:
        per_room = 5

        async def send(i: int, sender: Node) -> list[str]:
            session = await sender.service.register(f"Sender {i}")
            return [(await sender.service.send(session, f"room {i} message {n}")).key for n in range(per_room)]

        sent = await asyncio.gather(*(send(i, pair[1]) for i, pair in enumerate(pairs)))
        readers = [pair[4] for pair in pairs]
        converged = await wait_for(lambda: all(v.has_all(k) for v, k in zip(readers, sent, strict=True)), timeout=15)

        namespace = real_tables.users.removesuffix("Users")
        subscribers: list[tuple[int, int]] = []  # per room: SSUBSCRIBE and SUBSCRIBE clients on the owning shard
        for room, port in rooms.items():
            owner = Redis(host="127.0.0.1", port=port)
            try:
                channel = channel_name(room, namespace)
                [(_, sharded)] = await owner.pubsub_shardnumsub(channel)
                [(_, classic)] = await owner.pubsub_numsub(channel)
                subscribers.append((int(sharded), int(classic)))
            finally:
                await owner.aclose()
        record_property("rooms per shard", sorted(list(rooms.values()).count(p) for p in set(rooms.values())))
        assert converged, "a reader did not get its room's messages live"
        for (_, _, _, sender_view, reader_view), keys in zip(pairs, sent, strict=True):
            for view in (sender_view, reader_view):
                counts = tally(view, sorted(keys))
                # nothing lost or doubled, and nothing from another room
                assert (counts.lost, counts.duplicated, counts.unexpected, counts.out_of_order) == (0, 0, 0, 0), counts
            assert reader_view.paths["redis"] == per_room, "the reader got them some other way than live"
        # both nodes of each room subscribed by SSUBSCRIBE on the channel's shard, none by a classic SUBSCRIBE
        assert subscribers == [(2, 0)] * len(rooms)
    finally:
        for group, *_ in pairs:
            await group.stop()


async def test_a_shard_killed_mid_stream_loses_nothing_once_its_rooms_caught_up(
    dynamodb_endpoint: str,
    real_tables: TableNames,
    private_shards: RedisShards,
    caplog: pytest.LogCaptureFixture,
    record_property: Report,
) -> None:
    caplog.set_level(logging.INFO)
    rooms = await rooms_over_shards(private_shards.url, real_tables, 6)
    victim_port = next(iter(rooms.values()))
    victim = next(n for n in private_shards.nodes if n.port == victim_port)
    on_victim = {room for room, port in rooms.items() if port == victim_port}
    assert len(set(rooms.values())) == 3
    assert len(on_victim) == 2
    pairs = await room_pairs(dynamodb_endpoint, real_tables, rooms, private_shards.url)
    per_room, pace = 45, 0.03
    sent: dict[str, list[str]] = {room: [] for room in rooms}
    restarted = asyncio.Event()
    total = per_room * len(rooms)

    def count() -> int:
        return sum(len(keys) for keys in sent.values())

    async def send_all(i: int, room: str, sender: Node) -> None:
        session = await sender.service.register(f"Shard sender {i}")
        for n in range(per_room):
            if count() >= 2 * total // 3:
                await restarted.wait()  # at least a third is sent while the shard is down, the rest after
            sent[room].append((await sender.service.send(session, f"{room} {n}")).key)
            await asyncio.sleep(pace)

    async def kill_and_restart() -> None:
        assert await wait_for(lambda: count() >= total // 3, timeout=60), "the senders stalled before the fault"
        victim.kill()
        await asyncio.sleep(1.0)
        assert await wait_for(lambda: count() >= 2 * total // 3, timeout=60), "the senders stalled, shard down"
        await asyncio.to_thread(victim.start)
        restarted.set()

    try:
        started = time.monotonic()
        await asyncio.gather(
            *(send_all(i, room, pair[1]) for i, (room, pair) in enumerate(zip(rooms, pairs, strict=True))),
            kill_and_restart(),
        )
        # no periodic catch-up (it runs hourly here): only the resubscribe's catch-up and the repeated announcement
        views = {room: (pair[3], pair[4]) for room, pair in zip(rooms, pairs, strict=True)}
        converged = await wait_for(
            lambda: all(v.has_all(sent[room]) for room, vs in views.items() for v in vs), timeout=30
        )
        repaired_in = time.monotonic() - started
        lost = [r for r in caplog.records if r.name == "chat.bus" and "lost the Redis" in r.getMessage()]
        unannounced = [r for r in caplog.records if r.name == "chat.feed" and "could not announce" in r.getMessage()]
        summary = (
            f"sent={count()} send_and_repair={repaired_in:.1f}s subscriptions_lost={len(lost)} "
            f"publishes_failed={len(unannounced)} "
            f"victim_readers={[dict(views[room][1].paths) for room in on_victim]}"
        )
        print(summary)
        record_property("summary", summary)
        assert converged, "a view still misses messages after the shard came back"
        for room, (group, *_) in zip(rooms, pairs, strict=True):
            keys = [m.key for m in await stored(group.nodes[0].service)]
            assert sorted(sent[room]) == keys
            for view in views[room]:
                counts = tally(view, keys)
                assert (counts.lost, counts.duplicated, counts.unexpected, counts.out_of_order) == (0, 0, 0, 0), counts
            reader = views[room][1]
            if room in on_victim:
                assert reader.paths["reconnect_catch_up"] > 0 or reader.paths["redis"] == per_room
            else:
                # the other shards went on delivering live while one was down
                assert reader.paths["redis"] == per_room, (room, reader.paths)
        assert len(lost) >= 2 * len(on_victim)  # both nodes of every room on that shard noticed, and resubscribed
        assert unannounced, "no publish failed: the shard was not down while its rooms sent"
    finally:
        for group, *_ in pairs:
            await group.stop()


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
    listener = Bus(redis=RedisCluster.from_url(redis_cluster_url), room=room, namespace=prefix, key=derive_key(secret))

    async def nothing() -> None:
        return None

    listener.start(on_event=received.append, on_connect=nothing)
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
        message = next(m for m in map(events.message_of, received) if m is not None)
        assert (message.key, message.text) == (key, "over the shards")
        assert app.error_lines() == []
    finally:
        await listener.stop()
        app.stop_cleanly()
