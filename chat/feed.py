"""The room as this process sees it: one hub between the bus, DynamoDB and every chat view in the process.

Every message reaches the hub from the Redis subscriber, from this process's own sends, or from a
catch-up query; the hub drops keys it has already handed out and passes each new message once to every
listener. Catch-up is one query per process (after a reconnect and on a slow timer), never one per view.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from . import events
from .bus import Bus
from .errors import BusUnavailable, ChatError
from .events import Event
from .metrics import Metrics
from .models import Message, key_prefix, key_time, session_digest
from .storage import MessageStore

log = logging.getLogger(__name__)

Listener = Callable[[list[Message]], None]
SessionEndListener = Callable[[], None]

# a message can be stored with a key a little older than one already seen (a slow write, clock skew between
# processes, botocore's retries); every catch-up re-reads this much before where it could have missed something,
# and duplicates are dropped by key
CATCH_UP_OVERLAP = timedelta(seconds=30)
_CATCH_UP_PAGE = 500
# announcements that could not be published, kept to ring the doorbell again once Redis answers
_UNANNOUNCED = 1000
_REPAIR_BACKOFF = (0.2, 5.0)
# the newest messages kept in memory, so that a returning reader is answered without a query
RECENT_MESSAGES = 2000


def floor_before(key: str | None, *, now: datetime) -> str:
    """Where to read from to be sure of everything stored after ``key`` was seen: CATCH_UP_OVERLAP before it.

    A key's time is never trusted past this process's own clock, so a key from the future (stored by an old
    version, or a clock far ahead) cannot make a reader skip what is stored now.
    """
    moment = key_time(key) if key is not None else None
    moment = now if moment is None else min(moment, now)
    return key_prefix(moment - CATCH_UP_OVERLAP)


class RoomFeed:
    """Fans new messages of one room out to this process's listeners, each message once, in key order per batch."""

    def __init__(
        self,
        *,
        room: str,
        store: MessageStore,
        bus: Bus,
        recent_size: int = RECENT_MESSAGES,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        metrics: Metrics | None = None,
    ) -> None:
        self.room = room
        self._clock = clock
        self._metrics = metrics or Metrics()
        self._store = store
        self._bus = bus
        self._recent_size = recent_size
        self._recent_keys: list[str] = []  # sorted; the newest ``recent_size`` keys seen
        self._recent: dict[str, Message] = {}
        self._listeners: dict[int, Listener] = {}
        self._next_id = 0
        self._session_watchers: dict[str, dict[int, SessionEndListener]] = {}
        self._every_session_end: list[Callable[[str], None]] = []
        self._periodic: asyncio.Task[None] | None = None
        self._catch_up_lock = asyncio.Lock()
        self._caught_up_at: datetime | None = None  # this process's clock when the last good catch-up started
        # memory holds every message with a key above this (once primed); "~" is above every key: nothing yet
        self._complete_above = "~"
        self._publishing: set[asyncio.Task[None]] = set()
        self._unannounced: deque[Event] = deque(maxlen=_UNANNOUNCED)
        self._repair: asyncio.Task[None] | None = None

    def now(self) -> datetime:
        """This process's clock, as the feed reads it."""
        return self._clock()

    # -- listeners -------------------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Register a listener; returns the function that removes it."""
        listener_id = self._next_id
        self._next_id += 1
        self._listeners[listener_id] = listener
        return lambda: self._listeners.pop(listener_id, None) and None

    @property
    def listener_count(self) -> int:
        return len(self._listeners)

    def watch_session(self, token: str, listener: SessionEndListener) -> Callable[[], None]:
        """Call ``listener`` when the session with ``token`` ends in any process; returns the remover."""
        digest = session_digest(token)
        listener_id = self._next_id
        self._next_id += 1
        self._session_watchers.setdefault(digest, {})[listener_id] = listener

        def remove() -> None:
            watchers = self._session_watchers.get(digest, {})
            watchers.pop(listener_id, None)
            if not watchers:
                self._session_watchers.pop(digest, None)

        return remove

    def on_every_session_end(self, listener: Callable[[str], None]) -> None:
        """Call ``listener`` with the digest of every session that ends, here or in another process."""
        self._every_session_end.append(listener)

    # -- delivery --------------------------------------------------------------------------------------
    def deliver(self, messages: Iterable[Message]) -> list[Message]:
        """Hand the messages not seen before to every listener; returns those new ones."""
        fresh = sorted((m for m in messages if m.room == self.room and m.key not in self._recent), key=lambda m: m.key)
        if not fresh:
            return fresh
        for message in fresh:
            if message.key in self._recent:  # the same key twice within one batch
                continue
            bisect.insort(self._recent_keys, message.key)
            self._recent[message.key] = message
        while len(self._recent_keys) > self._recent_size:
            self._complete_above = self._recent_keys.pop(0)
            del self._recent[self._complete_above]
        for listener in list(self._listeners.values()):
            try:
                listener(fresh)
            except Exception:
                # one broken view must never stop the others from getting the message
                log.exception("a chat view failed to take new messages")
        return fresh

    def on_event(self, event: Event) -> None:
        """The bus subscriber's entry point."""
        try:
            message = events.message_of(event)
        except (KeyError, TypeError, ValueError):
            log.warning("ignored an event without a valid message")
            return
        if message is not None:
            self.deliver([message])
        elif event["type"] == "session" and event["op"] == "end":
            self._session_ended(str(event.get("session", "")))

    def _session_ended(self, digest: str) -> None:
        for hook in self._every_session_end:
            hook(digest)
        for listener in list(self._session_watchers.pop(digest, {}).values()):
            try:
                listener()
            except Exception:
                log.exception("a chat view failed to close its ended session")

    def announce(self, message: Message) -> None:
        """Show a stored message here at once and tell every other process through Redis, without waiting for it.

        The sender's answer never waits for Redis: a publish that fails or times out is published again once Redis
        answers, and the other processes' catch-up finds the message in DynamoDB in any case.
        """
        self.deliver([message])
        task = asyncio.create_task(self._publish(message.key, events.message_added(message)), name="announce")
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    async def _publish(self, key: str, event: Event) -> None:
        try:
            await self._bus.publish(event)
            self._metrics.announced.inc()
        except BusUnavailable as exc:
            self._metrics.announce_failures.inc()
            log.warning("stored %s but could not announce it (%s); announcing again once Redis answers", key, exc)
            self._unannounced.append(event)
            if self._repair is None or self._repair.done():
                self._repair = asyncio.create_task(self._announce_again(), name="announce again")

    async def _announce_again(self) -> None:
        """Publish what could not be published, oldest first, backing off while Redis does not answer."""
        delay = _REPAIR_BACKOFF[0]
        while self._unannounced:
            await asyncio.sleep(delay)
            try:
                while self._unannounced:
                    await self._bus.publish(self._unannounced[0])
                    self._unannounced.popleft()
                    self._metrics.announced.inc()
                log.info("announced again what Redis missed")
            except BusUnavailable:
                delay = min(delay * 2, _REPAIR_BACKOFF[1])

    async def flush(self, *, within: float) -> None:
        """Wait up to ``within`` seconds for announcements under way (before the process exits)."""
        if self._publishing:
            await asyncio.wait(set(self._publishing), timeout=within)

    async def announce_session_end(self, token: str) -> None:
        """Tell every view of this session, here and in other processes, that it has ended."""
        digest = session_digest(token)
        self._session_ended(digest)
        await self._bus.publish(events.session_ended(digest))

    # -- catch-up --------------------------------------------------------------------------------------
    def since(self, key: str | None) -> list[Message] | None:
        """What a reader whose newest message is ``key`` may have missed, from memory: every message from
        CATCH_UP_OVERLAP before ``key`` on (the reader drops what it has), or None when memory does not reach back.
        """
        floor = floor_before(key, now=self._clock())
        if floor < self._complete_above:
            return None
        start = bisect.bisect_right(self._recent_keys, floor)
        return [self._recent[k] for k in self._recent_keys[start:]]

    async def catch_up(self) -> None:
        """Read what DynamoDB holds since the last catch-up began (minus an overlap) and deliver what is new.

        Where to start comes from this process's own clock, never from the keys it has seen: one key dated in the
        future must not blind the catch-up to what is stored now.
        """
        async with self._catch_up_lock:  # a reconnect and the timer may fire together: one query is enough
            started = self._clock()
            primed = self._caught_up_at is not None  # the first read at start-up is not a repair
            try:
                if self._caught_up_at is None:
                    page = await self._store.page(self.room, limit=self._recent_size)
                    found = page.messages
                    primed_above = "" if page.cursor is None else page.cursor
                else:
                    found = await self._read_after(key_prefix(self._caught_up_at - CATCH_UP_OVERLAP))
            except ChatError as exc:
                log.warning("catch-up failed: %s", exc)
                return  # the next one starts from the same place
            if self._caught_up_at is None:
                self._complete_above = min(self._complete_above, primed_above)
            self._caught_up_at = started
            fresh = self.deliver(found)
            self._metrics.caught_up.inc(len(fresh) if primed else 0)
            if fresh:
                log.info("catch-up delivered %d message(s) that were not announced", len(fresh))

    async def _read_after(self, floor: str) -> list[Message]:
        """Everything after ``floor``, page by page: a busy room can hold more than one page in the overlap."""
        found: list[Message] = []
        cursor: str | None = floor
        while cursor is not None:
            batch, cursor = await self._store.after(self.room, cursor, limit=_CATCH_UP_PAGE)
            found.extend(batch)
        return found

    async def _catch_up_forever(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.catch_up()

    # -- lifecycle -------------------------------------------------------------------------------------
    async def start(self, *, catch_up_interval: float) -> None:
        """Prime the memory from DynamoDB, start the subscriber and the periodic check."""
        await self.catch_up()
        self._bus.start(on_event=self.on_event, on_connect=self.catch_up)
        self._periodic = asyncio.create_task(self._catch_up_forever(catch_up_interval), name="periodic catch-up")

    async def stop(self) -> None:
        if self._repair is not None:
            self._repair.cancel()
        if self._periodic is not None:
            self._periodic.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._periodic
            self._periodic = None
        await self._bus.stop()
