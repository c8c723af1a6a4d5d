"""The Redis side of a process: publish events on a room's channel, and the one subscriber that serves every room.

Each room has a channel, and so does the deployment's activity (events about no one room). A process subscribes
to the activity channel always and to the rooms it watches, all on one connection to a single Redis; on a Redis
Cluster, by sharded pub/sub (SPUBLISH / SSUBSCRIBE), on one connection per shard that owns a watched channel, so
rooms spread over the shards instead of every message reaching every node (see ``subscriber``).

Redis pub/sub is at-most-once: a subscriber that is away misses what was published meanwhile. So the bus calls
``on_subscribed(room)`` every time the server confirms a (re)subscription of that room's channel (``None`` for the
activity channel), and the caller catches up from DynamoDB then.

Redis is a doorbell, not a source: every event is sealed (see ``sealing``), and whatever arrives unsealed, sealed
by another deployment, or too old is dropped and counted before it reaches ``on_event``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError

from ..errors import BusUnavailable
from ..events import Event
from ..metrics import Metrics
from .placement import placement_for
from .sealing import MAX_EVENT_AGE_SECONDS, Seal, derive_key
from .subscriber import Subscriber
from .subscription import REDIS_FAILURES, RedisClient

__all__ = [
    "MAX_EVENT_AGE_SECONDS",
    "PUBLISH_TIMEOUT",
    "Bus",
    "EventHandler",
    "SubscribedHandler",
    "activity_channel",
    "channel_name",
    "derive_key",
    "presence_key",
]

log = logging.getLogger(__name__)

EventHandler = Callable[[str | None, Event], None]  # (room, event); room None = the activity channel
SubscribedHandler = Callable[[str | None], Coroutine[Any, Any, None]]  # (room) after every confirmed (re)subscribe

# a post is acknowledged once stored: a frozen Redis may hold an announcement this long, no longer
PUBLISH_TIMEOUT = 0.5


def channel_name(room: str, namespace: str = "") -> str:
    """The room's channel; ``namespace`` (the table prefix) keeps installations that share one Redis apart."""
    return f"sinchchat:{namespace}room:{room}"


def presence_key(room: str, namespace: str = "") -> str:
    """The hash of who is in ``room``, by process, on a cluster in the slot of the room's channel (so on the shard
    that carries the room's events): the key's hash tag is the channel, or the channel's own hash tag if it has one
    (a room name with braces). A name with a "}" and no tag puts the key elsewhere, which works all the same."""
    channel = channel_name(room, namespace)
    start = channel.find("{")
    end = channel.find("}", start + 1) if start >= 0 else -1
    if end > start + 1:  # Redis hashes the channel by its own tag: so does the key
        return channel + ":presence"
    return "{" + channel + "}:presence"


_T = TypeVar("_T")


def activity_channel(namespace: str = "") -> str:
    """The channel of events that belong to no one room, which every process hears."""
    return f"sinchchat:{namespace}activity"


class Bus:
    """Publishes events for rooms and runs the single subscriber that hands them to ``on_event``."""

    def __init__(
        self,
        *,
        redis: RedisClient,
        key: bytes,
        namespace: str = "",
        publish_timeout: float = PUBLISH_TIMEOUT,
        clock: Callable[[], float] = time.time,
        metrics: Metrics | None = None,
    ) -> None:
        self._redis = redis
        self._seal = Seal(key=key, clock=clock)
        self._namespace = namespace
        self._publish_timeout = publish_timeout
        self._metrics = metrics or Metrics()
        self._activity = activity_channel(namespace)
        self._channels: dict[str, str] = {}  # watched room -> its channel
        self._rooms: dict[str, str | None] = {self._activity: None}  # subscribed channel -> its room
        self._subscriber = Subscriber(
            placement=placement_for(redis),
            on_message=self._message,
            on_subscribed=self._subscribed,
            on_lost=self._lost,
        )
        self._subscriber.add(self._activity)
        self._on_event: EventHandler | None = None
        self._on_subscribed: SubscribedHandler | None = None
        self._catch_ups: set[asyncio.Task[None]] = set()
        self.rejected = 0  # events dropped because they were not sealed by this deployment, or too old
        self.connected = asyncio.Event()  # set while the activity channel is subscribed

    def seal(self, event: Event) -> str:
        """The event as it travels: version, time, HMAC of time and body, then the JSON body."""
        return self._seal.seal(event)

    def unseal(self, raw: bytes | str) -> Event | None:
        """The event in ``raw`` if this deployment sealed it recently, else None."""
        return self._seal.unseal(raw)

    def _channel(self, room: str | None) -> str:
        return self._activity if room is None else channel_name(room, self._namespace)

    async def publish(self, room: str | None, event: Event) -> None:
        """Publish one event on ``room``'s channel (None: the activity channel); raises BusUnavailable when Redis
        cannot be reached within the publish timeout."""
        channel, data = self._channel(room), self.seal(event)
        try:
            async with asyncio.timeout(self._publish_timeout):
                if isinstance(self._redis, RedisCluster):
                    # concurrent first commands on a cluster client that has not read its slot map (at start, and
                    # after it closed its connections on a failure) race in redis-py 8.1 and fail with an
                    # AttributeError; its initialize takes a lock, and costs one flag check once done
                    await self._redis.initialize()
                    # to the shard that owns the channel; the cluster client reconnects and rereads the slot map
                    await self._redis.spublish(channel, data)
                    return
                try:
                    await self._redis.publish(channel, data)
                except RedisConnectionError:
                    # after a Redis restart every idle pooled connection is dead: drop them and try once more
                    await self._redis.connection_pool.disconnect(inuse_connections=False)
                    await self._redis.publish(channel, data)
        except TimeoutError as exc:
            raise BusUnavailable("Live updates are slow to answer right now.") from exc
        except REDIS_FAILURES as exc:
            raise BusUnavailable("Live updates are unavailable right now.") from exc

    # -- presence: a hash per room, one field per process, read when a process starts showing the room ----------
    async def put_presence(self, room: str, origin: str, event: Event, *, until: float, ttl: int) -> None:
        """Write process ``origin``'s presence ``event`` for ``room`` (sealed, counted until ``until``); an event
        with nobody in it removes the field. ``ttl`` (seconds) expires the whole hash should every process die."""
        key = presence_key(room, self._namespace)
        if not event.get("people"):
            await self._command(lambda redis: redis.hdel(key, origin))
            return
        value = self.seal({**event, "until": until})

        async def write(redis: RedisClient) -> None:
            await redis.hset(key, origin, value)
            await redis.expire(key, ttl)

        await self._command(write)

    async def presence(self, room: str, *, now: float) -> dict[str, Event]:
        """The presence event of every process in ``room`` that still counts at ``now``, by origin; fields past their
        time, or not sealed by this deployment, are dropped."""
        key = presence_key(room, self._namespace)
        raw: dict[Any, Any] = await self._command(lambda redis: redis.hgetall(key))
        found: dict[str, Event] = {}
        stale: list[Any] = []
        for field, value in raw.items():
            event = self.unseal(value)
            until = None if event is None else event.get("until")
            if event is None or not isinstance(until, (int, float)) or until <= now:
                stale.append(field)
                continue
            found[field.decode() if isinstance(field, bytes) else str(field)] = event
        if stale:
            await self._command(lambda redis: redis.hdel(key, *stale))
        return found

    async def _command(self, run: Callable[[RedisClient], Awaitable[_T]]) -> _T:
        """One short exchange with Redis, within the publish timeout; failures are BusUnavailable."""
        try:
            async with asyncio.timeout(self._publish_timeout):
                if isinstance(self._redis, RedisCluster):
                    await self._redis.initialize()  # see publish
                    return await run(self._redis)
                try:
                    return await run(self._redis)
                except RedisConnectionError:
                    await self._redis.connection_pool.disconnect(inuse_connections=False)
                    return await run(self._redis)
        except TimeoutError as exc:
            raise BusUnavailable("Live updates are slow to answer right now.") from exc
        except REDIS_FAILURES as exc:
            raise BusUnavailable("Live updates are unavailable right now.") from exc

    async def ping(self) -> None:
        """PING the server the activity channel lives on (on a cluster: the shard that owns it)."""
        if isinstance(self._redis, RedisCluster):
            await self._redis.initialize()
            await self._redis.ping(target_nodes=self._redis.get_node_from_key(self._activity))
            return
        try:
            await self._redis.ping()
        except RedisConnectionError:
            # after a Redis restart the idle pooled connections are dead: drop them and ask once more
            await self._redis.connection_pool.disconnect(inuse_connections=False)
            await self._redis.ping()

    def start(self, *, on_event: EventHandler, on_subscribed: SubscribedHandler) -> None:
        """Start the subscriber: the activity channel always, and every watched room's channel."""
        if self._on_event is not None:
            raise RuntimeError("the subscriber is already running")
        self._on_event = on_event
        self._on_subscribed = on_subscribed
        self._subscriber.start()

    def watch(self, room: str) -> None:
        """Subscribe to ``room``'s channel soon (this returns at once); watching it twice is watching it."""
        if room in self._channels:
            return
        channel = channel_name(room, self._namespace)
        self._channels[room] = channel
        self._rooms[channel] = room
        self._subscriber.add(channel)

    def unwatch(self, room: str) -> None:
        """Stop watching ``room``: from now on none of its events reaches ``on_event``."""
        channel = self._channels.pop(room, None)
        if channel is None:
            return
        del self._rooms[channel]
        self._subscriber.discard(channel)

    @property
    def watching(self) -> frozenset[str]:
        """The rooms asked for: watched, and not unwatched since."""
        return frozenset(self._channels)

    async def stop(self) -> None:
        """Stop the subscriber and the catch-ups it started, and close the Redis connections."""
        await self._subscriber.stop()
        for task in list(self._catch_ups):
            task.cancel()
        if self._catch_ups:
            await asyncio.wait(self._catch_ups)
        self.connected.clear()
        await self._redis.aclose()

    def _subscribed(self, channel: str, server: str) -> None:
        """The server confirmed a (re)subscription: the room catches up, whatever made it subscribe again."""
        if channel not in self._rooms:
            return  # unwatched since
        room = self._rooms[channel]
        if room is None:
            self.connected.set()
            log.info("subscribed to %s on %s", channel, server)
        else:
            log.debug("subscribed to %s on %s", channel, server)
        assert self._on_subscribed is not None
        # in its own task: events keep flowing while the catch-up reads DynamoDB
        task = asyncio.create_task(self._catch_up(self._on_subscribed, room), name="catch-up after subscribe")
        self._catch_ups.add(task)
        task.add_done_callback(self._catch_ups.discard)

    @staticmethod
    async def _catch_up(handler: SubscribedHandler, room: str | None) -> None:
        try:
            await handler(room)
        except Exception:
            log.exception("the catch-up after subscribing to room %r failed", room)

    def _lost(self, server: str, why: str, channels: frozenset[str]) -> None:
        self._metrics.reconnects.inc()
        log.warning(
            "lost the Redis subscription to %d channel(s) on %s (%s); subscribing again", len(channels), server, why
        )
        if self._activity in channels:
            self.connected.clear()

    def _message(self, channel: str, data: bytes | str) -> None:
        if channel not in self._rooms:
            return  # unwatched since
        event = self.unseal(data)
        if event is None:
            self.rejected += 1
            self._metrics.rejected_events.inc()
            if self.rejected in (1, 10, 100) or self.rejected % 1000 == 0:
                log.warning(
                    "dropped %d event(s) not sealed by this deployment, the latest on %s", self.rejected, channel
                )
            return
        assert self._on_event is not None
        self._on_event(self._rooms[channel], event)
