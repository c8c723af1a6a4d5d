"""The Redis side: publish events on a room's channel, and the one subscriber task per process.

Redis pub/sub is at-most-once: a subscriber that is away misses what was published meanwhile. So the
subscriber tells its ``on_connect`` callbacks every time it (re)subscribes, and they catch up from DynamoDB.

On a Redis Cluster the same events travel by sharded pub/sub (SPUBLISH / SSUBSCRIBE): a room's channel lives on
the shard that owns its hash slot, so rooms spread over the shards instead of every message reaching every node.

Redis is a doorbell, not a source: anyone who can reach it can publish. Every event is sealed with an HMAC
under a key derived from the deployment's secret, with the time it was sealed; the subscriber drops (and
counts) whatever is not sealed by a process of this deployment in the last few minutes, so a forged event or
an old one replayed never reaches a view. One seal per event published, one check per event received: never
per tab.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import random
import time
from collections.abc import Callable, Coroutine
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from . import events
from .errors import BusUnavailable
from .events import Event
from .metrics import Metrics
from .subscription import RedisClient, Subscription

log = logging.getLogger(__name__)

EventHandler = Callable[[Event], None]
ConnectHandler = Callable[[], Coroutine[Any, Any, None]]

_MIN_BACKOFF = 0.1
_MAX_BACKOFF = 5.0
# a post is acknowledged once stored: a frozen Redis may hold an announcement this long, no longer
PUBLISH_TIMEOUT = 0.5
# a sealed event older (or newer) than this is dropped as a replay; wide enough for clocks a little apart
MAX_EVENT_AGE_SECONDS = 300
_SEAL_VERSION = "v1"


def derive_key(secret: str) -> bytes:
    """The key that seals bus events, derived from the deployment's secret (never the secret itself)."""
    return hmac.new(secret.encode(), b"sinchchat bus events v1", hashlib.sha256).digest()


def channel_name(room: str, namespace: str = "") -> str:
    """The room's channel; ``namespace`` (the table prefix) keeps installations that share one Redis apart."""
    return f"sinchchat:{namespace}room:{room}"


class Bus:
    """Publishes events for a room and runs the single subscriber that hands them to ``on_event``."""

    def __init__(
        self,
        *,
        redis: RedisClient,
        room: str,
        key: bytes,
        namespace: str = "",
        publish_timeout: float = PUBLISH_TIMEOUT,
        clock: Callable[[], float] = time.time,
        metrics: Metrics | None = None,
    ) -> None:
        self._redis = redis
        self._metrics = metrics or Metrics()
        self._channel = channel_name(room, namespace)
        self._key = key
        self._publish_timeout = publish_timeout
        self._clock = clock
        self.rejected = 0  # events dropped because they were not sealed by this deployment, or too old
        self._on_event: EventHandler | None = None
        self._on_connect: ConnectHandler | None = None
        self._task: asyncio.Task[None] | None = None
        self._connect_task: asyncio.Task[None] | None = None
        self._stopping = False
        self.connected = asyncio.Event()

    def seal(self, event: Event) -> str:
        """The event as it travels: version, time, HMAC of time and body, then the JSON body."""
        body = events.encode(event)
        stamp = str(int(self._clock() * 1000))
        return f"{_SEAL_VERSION}.{stamp}.{self._mac(stamp, body)}.{body}"

    def unseal(self, raw: bytes | str) -> Event | None:
        """The event in ``raw`` if this deployment sealed it recently, else None."""
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        parts = text.split(".", 3)
        if len(parts) != 4 or parts[0] != _SEAL_VERSION or not parts[1].isascii() or not parts[1].isdigit():
            return None
        _, stamp, mac, body = parts
        if not hmac.compare_digest(mac, self._mac(stamp, body)):
            return None
        if abs(self._clock() - int(stamp) / 1000) > MAX_EVENT_AGE_SECONDS:
            return None
        try:
            return events.decode(body)
        except ValueError:
            return None

    def _mac(self, stamp: str, body: str) -> str:
        return hmac.new(self._key, f"{stamp}.{body}".encode(), hashlib.sha256).hexdigest()

    async def publish(self, event: Event) -> None:
        """Publish one event; raises BusUnavailable when Redis cannot be reached within the publish timeout."""
        data = self.seal(event)
        try:
            async with asyncio.timeout(self._publish_timeout):
                if isinstance(self._redis, RedisCluster):
                    # to the shard that owns the channel; the cluster client reconnects and rereads the slot map
                    await self._redis.spublish(self._channel, data)
                    return
                try:
                    await self._redis.publish(self._channel, data)
                except RedisConnectionError:
                    # after a Redis restart every idle pooled connection is dead: drop them and try once more
                    await self._redis.connection_pool.disconnect(inuse_connections=False)
                    await self._redis.publish(self._channel, data)
        except TimeoutError as exc:
            raise BusUnavailable("Live updates are slow to answer right now.") from exc
        except (RedisError, OSError) as exc:
            raise BusUnavailable("Live updates are unavailable right now.") from exc

    async def ping(self) -> None:
        """PING the server this process's channel lives on (on a cluster: the shard that owns it)."""
        if isinstance(self._redis, RedisCluster):
            await self._redis.initialize()
            await self._redis.ping(target_nodes=self._redis.get_node_from_key(self._channel))
            return
        try:
            await self._redis.ping()
        except RedisConnectionError:
            # after a Redis restart the idle pooled connections are dead: drop them and ask once more
            await self._redis.connection_pool.disconnect(inuse_connections=False)
            await self._redis.ping()

    def start(self, *, on_event: EventHandler, on_connect: ConnectHandler) -> None:
        """Start the subscriber task; ``on_connect`` runs after every successful (re)subscribe."""
        if self._task is not None:
            raise RuntimeError("the subscriber is already running")
        self._on_event = on_event
        self._on_connect = on_connect
        self._task = asyncio.create_task(self._run(), name=f"subscriber {self._channel}")

    async def stop(self) -> None:
        """Stop the subscriber and close the Redis connections."""
        self._stopping = True
        if self._task is not None:
            # a cancel that lands inside redis-py's connect can be swallowed; the loop also checks _stopping
            while not self._task.done():
                self._task.cancel()
                await asyncio.wait({self._task}, timeout=1.0)
            self._task = None
        await self._redis.aclose()

    async def _run(self) -> None:
        backoff = _MIN_BACKOFF
        failed = False
        while not self._stopping:
            subscription: Subscription | None = None
            try:
                subscription = await Subscription.open(self._redis, self._channel, refresh=failed)
                while not self._stopping:
                    received = await subscription.next(wait=1.0)
                    if received is None:
                        continue
                    kind, data = received
                    if kind == "message":
                        self._dispatch(data)
                    else:
                        backoff = _MIN_BACKOFF
                        self._subscribed()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self.connected.is_set():
                    self._metrics.reconnects.inc()
                    log.warning("lost the Redis subscription (%s); reconnecting", exc)
            except Exception:
                log.exception("the subscriber failed; restarting it")
            finally:
                self.connected.clear()
                if subscription is not None:
                    with contextlib.suppress(RedisError, OSError):
                        await subscription.aclose()
            failed = True
            if self._stopping:
                break
            await asyncio.sleep(backoff * random.uniform(0.5, 1.0))  # jitter: many processes must not reconnect in step
            backoff = min(backoff * 2, _MAX_BACKOFF)

    def _subscribed(self) -> None:
        """The server confirmed a (re)subscription, ours or one redis-py made by itself: catch up in any case."""
        self.connected.set()
        log.info("subscribed to %s", self._channel)
        assert self._on_connect is not None
        # in its own task: new events keep flowing while the catch-up reads DynamoDB
        self._connect_task = asyncio.create_task(self._on_connect(), name="catch-up after subscribe")

    def _dispatch(self, raw: bytes | str) -> None:
        event = self.unseal(raw)
        if event is None:
            self.rejected += 1
            self._metrics.rejected_events.inc()
            if self.rejected in (1, 10, 100) or self.rejected % 1000 == 0:
                log.warning("dropped %d event(s) on %s not sealed by this deployment", self.rejected, self._channel)
            return
        assert self._on_event is not None
        self._on_event(event)
