"""The Redis side: publish events on a room's channel, and the one subscriber task per process.

Redis pub/sub is at-most-once: a subscriber that is away misses what was published meanwhile. So the
subscriber tells its ``on_connect`` callbacks every time it (re)subscribes, and they catch up from DynamoDB.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Coroutine
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from . import events
from .errors import BusUnavailable
from .events import Event
from .metrics import Metrics

log = logging.getLogger(__name__)

EventHandler = Callable[[Event], None]
ConnectHandler = Callable[[], Coroutine[Any, Any, None]]

_MIN_BACKOFF = 0.1
_MAX_BACKOFF = 5.0


def channel_name(room: str, namespace: str = "") -> str:
    """The room's channel; ``namespace`` (the table prefix) keeps installations that share one Redis apart."""
    return f"sinchchat:{namespace}room:{room}"


class Bus:
    """Publishes events for a room and runs the single subscriber that hands them to ``on_event``."""

    def __init__(self, *, redis: Redis, room: str, namespace: str = "", metrics: Metrics | None = None) -> None:
        self._redis = redis
        self._metrics = metrics or Metrics()
        self._channel = channel_name(room, namespace)
        self._on_event: EventHandler | None = None
        self._on_connect: ConnectHandler | None = None
        self._task: asyncio.Task[None] | None = None
        self._connect_task: asyncio.Task[None] | None = None
        self._stopping = False
        self.connected = asyncio.Event()

    async def publish(self, event: Event) -> None:
        """Publish one event; raises BusUnavailable when Redis cannot be reached."""
        data = events.encode(event)
        try:
            try:
                await self._redis.publish(self._channel, data)
            except RedisConnectionError:
                # after a Redis restart every idle pooled connection is dead: drop them and try once more
                # (not redis-py's Retry: it would also resubscribe silently and skip the catch-up)
                await self._redis.connection_pool.disconnect(inuse_connections=False)
                await self._redis.publish(self._channel, data)
        except (RedisError, OSError) as exc:
            raise BusUnavailable("Live updates are unavailable right now.") from exc

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
        while not self._stopping:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                self.connected.set()
                backoff = _MIN_BACKOFF
                log.info("subscribed to %s", self._channel)
                assert self._on_connect is not None
                # in its own task: new events keep flowing while the catch-up reads DynamoDB
                self._connect_task = asyncio.create_task(self._on_connect(), name="catch-up after subscribe")
                while not self._stopping:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message["type"] == "message":
                        self._dispatch(message["data"])
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
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            if self._stopping:
                break
            await asyncio.sleep(backoff * random.uniform(0.5, 1.0))  # jitter: many processes must not reconnect in step
            backoff = min(backoff * 2, _MAX_BACKOFF)

    def _dispatch(self, raw: bytes | str) -> None:
        try:
            event = events.decode(raw)
        except ValueError:
            log.warning("ignored a malformed event on %s", self._channel)
            return
        assert self._on_event is not None
        self._on_event(event)
