"""Where a channel's subscription lives: on the one Redis server, or on the cluster shard that owns its hash slot.

On a cluster, sharded pub/sub (SSUBSCRIBE) is served only by the primary that owns the channel's slot, so the bus
keeps one subscriber connection per such shard, and asks here again after a failure: a slot may have moved, or a
replica may have taken over. The slot map is redis-py's (the cluster client's), read again on ``refresh``.

The subscriber's connections are its own, built from the client's connection settings but outside its pools: the
cluster client closes every node's pooled connections when one command fails, and a subscription on a healthy
shard must not go down with it. They get no retries and no health check of redis-py's: the link reconnects with
backoff, and PINGs a quiet connection itself.
"""

from __future__ import annotations

from typing import Any, Protocol

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException

from .subscription import RedisClient


class Placement(Protocol):
    """Which server serves a channel, and how to open a subscriber connection there."""

    sharded: bool  # SSUBSCRIBE (a cluster) rather than SUBSCRIBE

    def server_of(self, channel: str) -> str | None:
        """The server that serves ``channel``, or None while that is not known (the slot map is being read)."""

    async def refresh(self) -> None:
        """Read again where channels live (the cluster's slot map)."""

    async def connect(self, server: str) -> AbstractConnection:
        """A new connection to ``server``, connected, for this subscriber alone."""


# the name CLIENT LIST shows for a subscriber connection, unless the Redis URL names its clients itself
SUBSCRIBER_NAME = "sinchchat-subscriber"


async def _connected(connection_class: type[AbstractConnection], options: dict[str, Any]) -> AbstractConnection:
    name = options.get("client_name") or SUBSCRIBER_NAME
    connection = connection_class(
        **{**options, "client_name": name, "health_check_interval": 0, "retry": Retry(NoBackoff(), 0)}
    )
    await connection.connect()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
    return connection


class OneServer:
    """A single Redis: every channel on the one server."""

    sharded = False

    def __init__(self, redis: Redis) -> None:
        self._pool = redis.connection_pool
        options = self._pool.connection_kwargs
        self._name = f"{options.get('host', 'redis')}:{options.get('port', '')}"

    def server_of(self, channel: str) -> str | None:
        return self._name

    async def refresh(self) -> None:
        return None

    async def connect(self, server: str) -> AbstractConnection:
        return await _connected(self._pool.connection_class, self._pool.connection_kwargs)


class ClusterShards:
    """A Redis Cluster: a channel on the primary that owns its slot, by the cluster client's slot map."""

    sharded = True

    def __init__(self, cluster: RedisCluster) -> None:
        self._cluster = cluster
        self._read = False

    def server_of(self, channel: str) -> str | None:
        if not self._read:
            return None
        try:
            node = self._cluster.get_node_from_key(channel)
        except RedisClusterException:  # the slot has no owner in the map just now
            return None
        return None if node is None else node.name

    async def refresh(self) -> None:
        if self._read:
            await self._cluster.nodes_manager.initialize()
        else:
            await self._cluster.initialize()  # the first read also readies the client for SPUBLISH
            self._read = True

    async def connect(self, server: str) -> AbstractConnection:
        node = self._cluster.get_node(node_name=server)
        if node is None:
            raise RedisConnectionError(f"{server} is no longer in the cluster's slot map")
        return await _connected(node.connection_class, node.connection_kwargs)


def placement_for(redis: RedisClient) -> Placement:
    return ClusterShards(redis) if isinstance(redis, RedisCluster) else OneServer(redis)
