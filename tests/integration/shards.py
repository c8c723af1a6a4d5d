"""Which shard of a Redis Cluster owns a channel, as the cluster itself tells (CLUSTER KEYSLOT and CLUSTER NODES),
not as redis-py's routing, which the code under test uses, would say."""

from __future__ import annotations

from redis.asyncio import Redis

from chat.bus import channel_name

from .cluster import unique_room


async def owners(url: str, channels: list[str]) -> dict[str, int]:
    """The port of the primary that owns each channel, as the cluster itself tells."""
    admin = Redis.from_url(url)
    try:
        nodes = await admin.execute_command("CLUSTER NODES")  # type: ignore[no-untyped-call]
        ranges = [
            (int(slots[0]), int(slots[-1]), int(address.rsplit(":", 1)[1]))
            for address, node in nodes.items()
            if "master" in node["flags"]
            for slots in node["slots"]
        ]
        found = {}
        for channel in channels:
            slot = int(await admin.execute_command("CLUSTER KEYSLOT", channel))  # type: ignore[no-untyped-call]
            found[channel] = next(port for low, high, port in ranges if low <= slot <= high)
        return found
    finally:
        await admin.aclose()


async def rooms_over_shards(url: str, count: int, namespace: str) -> dict[str, int]:
    """``count`` new rooms, as evenly spread over the shards as their channels (in ``namespace``) allow: room ->
    the port of the shard that owns its channel."""
    candidates = [unique_room() for _ in range(count * 10)]
    found = await owners(url, [channel_name(room, namespace) for room in candidates])
    by_port: dict[int, list[str]] = {}
    for room in candidates:
        by_port.setdefault(found[channel_name(room, namespace)], []).append(room)
    chosen: dict[str, int] = {}
    while len(chosen) < count:
        for port, rooms in sorted(by_port.items()):
            if rooms and len(chosen) < count:
                chosen[rooms.pop()] = port
    return chosen
