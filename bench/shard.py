"""One Redis shard: how many sealed publishes a second it takes, and its CPU per publish, by number of subscribers.

From one process, ``concurrency`` loops publish through the product's own ``chat.bus.Bus`` (sealed, a chat line
long) for ``seconds``, while a child process (``bench/listeners.py``) holds N connections subscribed to the
room's channel, as N app processes showing that room would. The shard is one redis-server: the single server
with PUBLISH, and the cluster primary that owns the channel's slot with SPUBLISH. Redis runs commands on one
thread, so one core divided by its CPU per publish is the most the shard could take doing nothing else: that
ceiling is extrapolated; the rate one Python process reaches is measured. Every subscriber must receive every
publish; the child counts what arrived, so a point that loses messages says so.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

from redis.asyncio.cluster import RedisCluster

from chat import events
from chat.bus import Bus, channel_name, derive_key
from chat.bus.subscription import RedisClient, open_client
from chat.errors import BusUnavailable

from . import procstat
from .fanout import log
from .listeners import Listeners
from .seed import messages

_WARM_UP_SECONDS = 0.3


async def _shard_address(redis: RedisClient, channel: str) -> tuple[str, int]:
    if isinstance(redis, RedisCluster):
        await redis.initialize()
        node = redis.get_node_from_key(channel)
        if node is None:
            raise RuntimeError(f"the cluster's slot map names no node for {channel}")
        return node.host, int(node.port)
    kwargs = redis.connection_pool.connection_kwargs
    return str(kwargs.get("host", "127.0.0.1")), int(kwargs.get("port", 6379))


async def _publish_for(bus: Bus, room: str, event: events.Event, seconds: float, concurrency: int) -> tuple[int, int]:
    """Publish from ``concurrency`` loops for ``seconds``; returns (published, failed)."""
    until = time.monotonic() + seconds
    counts = [0, 0]

    async def loop() -> None:
        while time.monotonic() < until:
            try:
                await bus.publish(room, event)
                counts[0] += 1
            except BusUnavailable:
                counts[1] += 1

    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return counts[0], counts[1]


async def _point(
    *, url: str, cluster: bool, subscribers: int, seconds: float, concurrency: int, room: str
) -> dict[str, Any]:
    redis = open_client(url, cluster=cluster)
    # a generous timeout: a publish queued behind others is slow, not lost, and is counted either way
    bus = Bus(redis=redis, key=derive_key(secrets.token_urlsafe(32)), publish_timeout=5.0)
    event = events.message_added(messages(room, 1)[0])
    channel = channel_name(room)
    listeners: Listeners | None = None
    try:
        address = await _shard_address(redis, channel)
        pid = procstat.redis_server_pid(f"redis://{address[0]}:{address[1]}")
        listeners = Listeners(
            host=address[0], port=address[1], channel=channel, sharded=cluster, connections=subscribers
        )
        await listeners.ready()
        warm, warm_failed = await _publish_for(bus, room, event, _WARM_UP_SECONDS, concurrency)
        server0 = procstat.cpu_seconds(pid) if pid else None
        cpu0, t0 = time.process_time(), time.monotonic()
        published, failed = await _publish_for(bus, room, event, seconds, concurrency)
        cpu1, t1 = time.process_time(), time.monotonic()
        server1 = procstat.cpu_seconds(pid) if pid else None
        received = await listeners.received(warm + published)
    finally:
        if listeners is not None:
            listeners.stop()
        await redis.aclose()
    elapsed = t1 - t0
    server_us = (
        1e6 * (server1 - server0) / published if server0 is not None and server1 is not None and published else None
    )
    return {
        "server": "cluster" if cluster else "single",
        "command": "SPUBLISH" if cluster else "PUBLISH",
        "address": f"{address[0]}:{address[1]}",
        "subscribers": subscribers,
        "seconds": elapsed,
        "event_bytes": len(bus.seal(event)),
        "published": published,
        "failed": failed + warm_failed,
        "publishes_per_second": published / elapsed,
        "expected": (warm + published) * subscribers,
        "received": received,
        "lost": max(0, (warm + published) * subscribers - received),
        "server_cpu_us_per_publish": server_us,
        "server_cpu_cores": None if server_us is None else server_us * published / elapsed / 1e6,
        "publisher_cpu_us_per_publish": 1e6 * (cpu1 - cpu0) / published if published else None,
        "ceiling_publishes_per_second": 1e6 / server_us if server_us else None,
        "ceiling_deliveries_per_second": 1e6 * subscribers / server_us if server_us else None,
    }


async def _points(
    servers: list[tuple[str, bool]], *, subscribers: list[int], seconds: float, concurrency: int, room: str
) -> list[dict[str, Any]]:
    points = []
    for url, cluster in servers:
        for count in subscribers:
            log(f"shard: {'SPUBLISH on the cluster' if cluster else 'PUBLISH'} with {count} subscriber(s)")
            points.append(
                await _point(
                    url=url, cluster=cluster, subscribers=count, seconds=seconds, concurrency=concurrency, room=room
                )
            )
    return points


def run(
    *, redis_url: str, cluster_url: str | None, subscribers: list[int], seconds: float, concurrency: int, room: str
) -> dict[str, Any]:
    """Every subscriber count on the single server, then on the cluster's shard (when a cluster is running)."""
    servers = [(redis_url, False)]
    if cluster_url:
        servers.append((cluster_url, True))
    else:
        log("shard: no cluster (CHAT_TEST_REDIS_CLUSTER_URL is unset): PUBLISH on the single server only")
    points = asyncio.run(_points(servers, subscribers=subscribers, seconds=seconds, concurrency=concurrency, room=room))
    return {"seconds": seconds, "concurrency": concurrency, "points": points}
