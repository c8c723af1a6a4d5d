"""One subscriber connection to one server (a single Redis, or one shard of a cluster), owned by one task.

The task alone touches the connection: it reads what the server sends and, between two reads, sends the
(UN)SUBSCRIBEs that ``add`` and ``discard`` asked for. Those two only note what is wanted and cut the current read
short, which the parser resumes like a read that timed out (redis-py's own timeouts cut reads the same way). Why not
redis-py's PubSub: it lets a second task write SUBSCRIBE while the reader is blocked, its retry layer then reconnects
under the reader's feet and resubscribes by itself, and its cluster PubSub moves shard subscriptions from a
background task of its own. Here nothing happens on the connection that this task did not decide.

The link reports every subscription the server confirms, each time it confirms it (after a reconnect too): Redis
pub/sub is at-most-once, so each confirmation is where the owner catches up on what it missed. A subscription the
server ends by itself (a slot moved to another shard) or refuses (MOVED) is handed back to the owner, which asks
the cluster where that channel lives now. A connection that closes, or that stays silent past a PING, is dropped
and opened again with jittered backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError, ResponseError

log = logging.getLogger(__name__)

RedisClient = Redis | RedisCluster

# what a command on a RedisClient raises while a server or a shard is away, besides TimeoutError (an OSError): the
# cluster client's RedisClusterException ("cannot be connected") is no RedisError, and redis-py 8.1's cluster client
# can fail a command with an AttributeError when a concurrent reinitialize closed the connection under it
REDIS_FAILURES: tuple[type[Exception], ...] = (RedisError, RedisClusterException, OSError, AttributeError)

MIN_BACKOFF = 0.1
MAX_BACKOFF = 5.0
# connect and handshake; a frozen server accepts the TCP connection and then never answers
CONNECT_TIMEOUT = 5.0
# a quiet connection is asked for a PING this often, and dropped when nothing comes back within PING_TIMEOUT: a
# half-open TCP connection or a frozen server would otherwise look like a quiet room for ever
PING_INTERVAL = 10.0
PING_TIMEOUT = 5.0

_MESSAGE = frozenset({"message", "smessage"})
_SUBSCRIBED = frozenset({"subscribe", "ssubscribe"})
_UNSUBSCRIBED = frozenset({"unsubscribe", "sunsubscribe"})


def open_client(url: str, *, cluster: bool) -> RedisClient:
    """A client for ``url``: one server, or the cluster that the node at ``url`` belongs to."""
    options: dict[str, Any] = {"socket_connect_timeout": 2}
    if cluster:
        # a cluster client opens its connections on first use; its slot map comes from the node named here
        return RedisCluster.from_url(url, **options)
    return Redis.from_url(url, health_check_interval=10, **options)


class LinkOwner(Protocol):
    """What a link tells the bus; every call comes from the link's task, none may block."""

    def message(self, link: Link, channel: str, data: bytes | str) -> None: ...

    def subscribed(self, link: Link, channel: str) -> None:
        """The server confirmed a subscription to ``channel`` (again, after a reconnect)."""

    def ended(self, link: Link, channel: str, reason: str) -> None:
        """The server ended or refused ``channel``'s subscription; the link no longer wants it."""

    def lost(self, link: Link, error: BaseException, *, was_up: bool) -> None:
        """The connection failed (``was_up``: after it had subscribed); the link opens another after a pause."""


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class Link:
    """The subscriber connection to ``server`` and the task that owns it; ``add``/``discard`` return at once."""

    def __init__(
        self,
        *,
        server: str,
        connect: Callable[[], Awaitable[AbstractConnection]],
        sharded: bool,
        owner: LinkOwner,
        ping_interval: float = PING_INTERVAL,
        ping_timeout: float = PING_TIMEOUT,
    ) -> None:
        self.server = server
        self._connect = connect
        self._owner = owner
        self._subscribe, self._unsubscribe = ("SSUBSCRIBE", "SUNSUBSCRIBE") if sharded else ("SUBSCRIBE", "UNSUBSCRIBE")
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._wanted: set[str] = set()  # what the owner asked for
        self._asked: set[str] = set()  # what this connection has sent SUBSCRIBE for (and no UNSUBSCRIBE since)
        self._confirmed: set[str] = set()  # what the server confirmed on this connection
        # the reply each command sent is waiting for, oldest first: one channel per command, so that a refusal
        # (an error reply names no channel) can be told apart from a subscription the server ended by itself
        self._awaiting: deque[tuple[str, str]] = deque()
        self._dirty = False
        self._reading: asyncio.Timeout | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def wanted(self) -> frozenset[str]:
        return frozenset(self._wanted)

    @property
    def idle(self) -> bool:
        """Whether it is asked for no channel at all."""
        return not self._wanted

    @property
    def closed(self) -> bool:
        """Whether the task has ended (after ``close``)."""
        return self._task is not None and self._task.done()

    @property
    def confirmed(self) -> frozenset[str]:
        """The channels the server confirmed on the current connection."""
        return frozenset(self._confirmed)

    def add(self, channel: str) -> None:
        if channel not in self._wanted:
            self._wanted.add(channel)
            self._wake()

    def discard(self, channel: str) -> None:
        if channel in self._wanted:
            self._wanted.discard(channel)
            self._wake()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"subscriber {self.server}")

    def close(self) -> None:
        """Stop the task; its connection closes as it ends. ``wait_closed`` waits for that."""
        self._closing = True
        if self._task is not None:
            self._task.cancel()

    async def wait_closed(self) -> None:
        task = self._task
        if task is None:
            return
        # a cancel that lands inside redis-py's connect can be swallowed; the loop also checks _closing
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)

    def _wake(self) -> None:
        """Have the task send what changed: cut its current read short, if it is reading."""
        self._dirty = True
        if self._reading is not None and not self._reading.expired():
            self._reading.reschedule(asyncio.get_running_loop().time())

    async def _run(self) -> None:
        backoff = MIN_BACKOFF
        while not self._closing:
            connection: AbstractConnection | None = None
            failure: BaseException = RedisConnectionError(f"the connection to {self.server} ended")
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    connection = await self._connect()
                log.info("subscriber connected to %s; subscribing %d channel(s)", self.server, len(self._wanted))
                await self._serve(connection)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:  # OSError covers TimeoutError, the connect's too
                failure = exc
            except Exception as exc:
                log.exception("the subscriber on %s failed; restarting it", self.server)
                failure = exc
            finally:
                was_up = bool(self._confirmed)
                self._asked.clear()
                self._confirmed.clear()
                self._awaiting.clear()
                if connection is not None:
                    with contextlib.suppress(RedisError, OSError):
                        await connection.disconnect(nowait=True)
            if self._closing:
                break
            if was_up:
                backoff = MIN_BACKOFF
            else:
                log.debug("no subscription on %s (%s); trying again", self.server, failure)
            self._owner.lost(self, failure, was_up=was_up)
            await asyncio.sleep(backoff * random.uniform(0.5, 1.0))  # jitter: many processes must not reconnect in step
            backoff = min(backoff * 2, MAX_BACKOFF)

    async def _serve(self, connection: AbstractConnection) -> None:
        """Subscribe, then read until the connection fails (this raises then; it never returns)."""
        loop = asyncio.get_running_loop()
        heard = loop.time()
        pinged: float | None = None
        self._dirty = True
        while True:
            if self._dirty:
                await self._send_changes(connection)
            deadline = heard + self._ping_interval if pinged is None else pinged + self._ping_timeout
            try:
                response = await self._read(connection, deadline)
            except ResponseError as error:
                heard, pinged = loop.time(), None
                self._refused(error)
                continue
            now = loop.time()
            if response is not None:
                heard, pinged = now, None
                self._handle(response)
            elif pinged is not None and now >= pinged + self._ping_timeout:
                raise RedisConnectionError(f"{self.server} did not answer a PING within {self._ping_timeout:g} s")
            elif pinged is None and now >= heard + self._ping_interval:
                await connection.send_command("PING", check_health=False)
                pinged = now

    async def _read(self, connection: AbstractConnection, deadline: float) -> Any:
        """The next thing the server sent, or None at ``deadline`` or when ``_wake`` cut the read short."""
        try:
            async with asyncio.timeout_at(deadline) as self._reading:
                if self._dirty:
                    return None  # woken between sending and reading: send first
                # disconnect_on_error=False: a cut read must leave the connection and the parser's buffer as they are
                return await connection.read_response(timeout=math.inf, disconnect_on_error=False, push_request=True)
        except TimeoutError:
            if self._reading is not None and self._reading.expired():
                return None
            raise
        finally:
            self._reading = None

    async def _send_changes(self, connection: AbstractConnection) -> None:
        self._dirty = False
        commands: list[tuple[str, str]] = []
        for channel in sorted(self._wanted - self._asked):
            commands.append((self._subscribe, channel))
            self._asked.add(channel)
        for channel in sorted(self._asked - self._wanted):
            commands.append((self._unsubscribe, channel))
            self._asked.discard(channel)
            self._confirmed.discard(channel)
        if not commands:
            return
        self._awaiting.extend((verb.lower(), channel) for verb, channel in commands)
        # one write for all of them; each gets its own reply, in order
        await connection.send_packed_command(connection.pack_commands(commands), check_health=False)

    def _handle(self, response: Any) -> None:
        if not isinstance(response, list) or len(response) < 3:
            return  # the answer to our PING
        kind, channel = _text(response[0]), _text(response[1])
        if kind in _MESSAGE:
            if channel in self._confirmed:
                self._owner.message(self, channel, response[2])
            return
        if self._awaiting and self._awaiting[0] == (kind, channel):
            self._awaiting.popleft()
        elif kind in _UNSUBSCRIBED:
            self._ended(channel, f"{self.server} ended the subscription ({kind})")
            return
        if kind in _SUBSCRIBED and channel in self._asked:
            self._confirmed.add(channel)
            self._owner.subscribed(self, channel)

    def _refused(self, error: ResponseError) -> None:
        """An error reply: it answers the oldest command still waiting for a reply."""
        if not self._awaiting:
            raise RedisConnectionError(f"{self.server} sent an error that answers no command: {error}")
        verb, channel = self._awaiting.popleft()
        if verb in _SUBSCRIBED:
            self._ended(channel, f"{self.server} refused the subscription: {error}")
        else:
            log.warning("%s refused to unsubscribe %s: %s", self.server, channel, error)

    def _ended(self, channel: str, reason: str) -> None:
        if channel not in self._asked:
            return  # a late answer about a channel this link already gave up
        self._asked.discard(channel)
        self._confirmed.discard(channel)
        self._wanted.discard(channel)
        self._owner.ended(self, channel, reason)
