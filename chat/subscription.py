"""One channel's subscription: SUBSCRIBE on a single Redis server, SSUBSCRIBE on the shard of a cluster that owns it.

The bus learns of every (re)subscription from the server's own confirmation, not from its call having returned:
redis-py may reconnect and resubscribe by itself (its retry policy on a single server, its slot reconciliation on
a cluster after a failover), and each such confirmation must lead to a catch-up, or whatever was published while
the subscription was away is silently lost. A subscription the server ends (a slot moved away, a primary demoted)
raises, so the bus subscribes again where the channel lives now.
"""

from __future__ import annotations

from typing import Any, Literal

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import ClusterPubSub, RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError

RedisClient = Redis | RedisCluster

Kind = Literal["subscribed", "message"]

_SUBSCRIBED = frozenset({"subscribe", "ssubscribe"})
_ENDED = frozenset({"unsubscribe", "sunsubscribe"})
_MESSAGE = frozenset({"message", "smessage"})


def open_client(url: str, *, cluster: bool) -> RedisClient:
    """A client for ``url``: one server, or the cluster that the node at ``url`` belongs to."""
    options: dict[str, Any] = {"socket_connect_timeout": 2}
    if cluster:
        # a cluster client opens its connections on first use; its slot map comes from the node named here
        return RedisCluster.from_url(url, **options)
    return Redis.from_url(url, health_check_interval=10, **options)


class Subscription:
    """A subscription to one channel; ``next`` returns what the server sent, or None when it sent nothing."""

    def __init__(self, pubsub: PubSub | ClusterPubSub, channel: str) -> None:
        self._pubsub = pubsub
        self._channel = channel

    @classmethod
    async def open(cls, redis: RedisClient, channel: str, *, refresh: bool = False) -> Subscription:
        """Subscribe to ``channel``; with ``refresh`` on a cluster, read the slot map again first (after a failure
        the channel's shard may have a new primary)."""
        if isinstance(redis, RedisCluster):
            await redis.initialize()  # pubsub() routes by the slot map, which the first call fills
            if refresh:
                await redis.nodes_manager.initialize()
            sharded = redis.pubsub()
            subscription = cls(sharded, channel)
            await sharded.ssubscribe(channel)
            return subscription
        pubsub = redis.pubsub()
        subscription = cls(pubsub, channel)
        await pubsub.subscribe(channel)
        return subscription

    async def next(self, *, wait: float) -> tuple[Kind, bytes] | None:
        """("subscribed", channel) for a (re)subscription confirmed by the server, ("message", data) for an event,
        waiting up to ``wait`` seconds for one.

        Raises RedisConnectionError when the subscription is gone: the connection closed, or the server ended it.
        """
        if isinstance(self._pubsub, ClusterPubSub):
            if not self._pubsub.node_pubsub_mapping:
                # redis-py dropped the shard's connection (its node left the slot map): nothing would ever arrive
                raise RedisConnectionError(f"the subscription to {self._channel} has no shard connection")
            message = await self._pubsub.get_sharded_message(timeout=wait)
        else:
            message = await self._pubsub.get_message(timeout=wait)
        if message is None:
            return None
        kind = message["type"].decode() if isinstance(message["type"], bytes) else str(message["type"])
        if kind in _SUBSCRIBED:
            return "subscribed", message["channel"]
        if kind in _ENDED:
            raise RedisConnectionError(f"Redis ended the subscription to {self._channel} ({kind})")
        if kind in _MESSAGE:
            return "message", message["data"]
        return None

    async def aclose(self) -> None:
        await self._pubsub.aclose()
