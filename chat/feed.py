"""The room as this process sees it: one hub between the bus, DynamoDB and every chat view in the process.

Every message reaches the hub from the Redis subscriber, from this process's own sends, or from a
catch-up query; the hub drops keys it has already handed out and passes each new message once to every
listener. Catch-up is one query per process (after a reconnect and on a slow timer), never one per view.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import hashlib
import logging
from collections.abc import Callable, Iterable
from datetime import timedelta

from . import events
from .bus import Bus
from .errors import ChatError
from .events import Event
from .metrics import Metrics
from .models import Message, key_time
from .storage import MessageStore

log = logging.getLogger(__name__)

Listener = Callable[[list[Message]], None]
SessionEndListener = Callable[[], None]

# a message can be stored with a key a little older than one already seen (a slow write, clock skew
# between processes, a retry); catch-up re-reads this much before the newest key and drops duplicates
CATCH_UP_OVERLAP = timedelta(seconds=30)
_CATCH_UP_PAGE = 500


def session_digest(token: str) -> str:
    """What the bus carries instead of a session token: its SHA-256, so the token itself never leaves storage."""
    return hashlib.sha256(token.encode()).hexdigest()


def _key_floor(key: str, overlap: timedelta) -> str:
    moment = key_time(key) - overlap
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


class RoomFeed:
    """Fans new messages of one room out to this process's listeners, each message once, in key order per batch."""

    def __init__(
        self, *, room: str, store: MessageStore, bus: Bus, recent_size: int = 2000, metrics: Metrics | None = None
    ) -> None:
        self.room = room
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
            del self._recent[self._recent_keys.pop(0)]
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

    async def announce(self, message: Message) -> None:
        """Show a stored message here at once and tell every other process through Redis."""
        self.deliver([message])
        await self._bus.publish(events.message_added(message))

    async def announce_session_end(self, token: str) -> None:
        """Tell every view of this session, here and in other processes, that it has ended."""
        digest = session_digest(token)
        self._session_ended(digest)
        await self._bus.publish(events.session_ended(digest))

    # -- catch-up --------------------------------------------------------------------------------------
    def since(self, key: str) -> list[Message] | None:
        """Messages after ``key`` from memory, or None when memory does not reach back that far."""
        if not self._recent_keys or key < self._recent_keys[0]:
            return None
        start = bisect.bisect_right(self._recent_keys, key)
        return [self._recent[k] for k in self._recent_keys[start:]]

    async def catch_up(self) -> None:
        """Read what DynamoDB holds after the newest key seen here (minus an overlap) and deliver what is new."""
        async with self._catch_up_lock:  # a reconnect and the timer may fire together: one query is enough
            primed = bool(self._recent_keys)  # the first read at start-up is not a repair
            try:
                if primed:
                    found = await self._read_after(_key_floor(self._recent_keys[-1], CATCH_UP_OVERLAP))
                else:
                    found = (await self._store.page(self.room, limit=self._recent_size)).messages
            except ChatError as exc:
                log.warning("catch-up failed: %s", exc)
                return
            fresh = self.deliver(found)
            self._metrics.caught_up.inc(len(fresh) if primed else 0)
            if fresh:
                log.info("catch-up delivered %d message(s) that were not announced", len(fresh))

    async def _read_after(self, floor: str) -> list[Message]:
        """Everything after ``floor``, page by page: a busy room can hold more than one page in the overlap."""
        found: list[Message] = []
        cursor = floor
        while True:
            batch = await self._store.after(self.room, cursor, limit=_CATCH_UP_PAGE)
            found.extend(batch)
            if len(batch) < _CATCH_UP_PAGE:
                return found
            cursor = batch[-1].key

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
        if self._periodic is not None:
            self._periodic.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._periodic
            self._periodic = None
        await self._bus.stop()
