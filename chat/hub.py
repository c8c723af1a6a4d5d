"""The rooms as this process sees them: one hub between the bus, DynamoDB and the process's broadcaster.

The hub subscribes to a room's channel while this process shows the room (the broadcaster says when, from its
views), keeps the room's newest messages in memory, drops keys it has already handed out, and passes each new
message once to its sink. DynamoDB is the source of truth and Redis the doorbell: after every (re)subscribe and on
a slow timer the hub reads what it missed, one query per room per process, never one per tab.

Besides each room's channel, every process listens on one activity channel for what the room list needs: which
rooms have new messages (coalesced: one event per process per interval, whatever the number of rooms), new rooms,
read markers and ended sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Protocol

from . import events
from .bus import Bus
from .errors import BusUnavailable, ChatError
from .events import Event
from .metrics import Metrics
from .models import Message, session_digest
from .presence_feed import PRESENCE_TYPES, PresenceFeed, PresenceTiming
from .room_memory import RECENT_MESSAGES, RoomMemory, floor_before
from .rooms import Room
from .storage import MessageStore

log = logging.getLogger(__name__)

__all__ = ["Hub", "HubSink", "floor_before"]

# announcements that could not be published, kept to ring the doorbell again once Redis answers
_UNANNOUNCED = 1000
_REPAIR_BACKOFF = (0.2, 5.0)
# how often a process tells the others which rooms got messages: the room list's counts trail by this much at most
ACTIVITY_INTERVAL = 0.5
# a room nobody here shows any more stays subscribed this long: a reload or a quick switch back finds it warm
ROOM_LINGER_SECONDS = 15.0


class HubSink(Protocol):
    """Where the hub hands what it learns: the process's broadcaster."""

    def on_messages(self, room: str, messages: list[Message]) -> None:
        """New messages of ``room`` and new versions of changed ones, each once, in key order."""

    def on_activity(self, rooms: dict[str, tuple[str, int]]) -> None:
        """Rooms with new messages somewhere: room -> (newest key, how many new)."""

    def on_read(self, reader: str, room: str, key: str) -> None:
        """The author ``reader`` has read ``room`` up to ``key`` (in some tab of some process)."""

    def on_room(self, room: Room) -> None:
        """A new room exists."""

    def on_session_end(self, digest: str) -> None:
        """The session with this token digest has ended."""


class Hub:
    """One per process: per-room subscriptions, memory, dedup and catch-up, and the activity channel."""

    def __init__(
        self,
        *,
        store: MessageStore,
        bus: Bus,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        metrics: Metrics | None = None,
        linger: float = ROOM_LINGER_SECONDS,
        activity_interval: float = ACTIVITY_INTERVAL,
        recent_size: int = RECENT_MESSAGES,
        presence_timing: PresenceTiming | None = None,
    ) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock
        self._metrics = metrics or Metrics()
        self._metrics.count_rooms(lambda: len(self._rooms))
        self._linger = linger
        self._activity_interval = activity_interval
        self._recent_size = recent_size
        self._origin = secrets.token_hex(6)  # so this process does not count its own activity twice
        self._sink: HubSink | None = None
        self._rooms: dict[str, RoomMemory] = {}  # the rooms this process shows (or showed a moment ago)
        self._closing: dict[str, asyncio.TimerHandle] = {}
        self._newest: dict[str, str] = {}  # room -> newest key heard of while the activity channel was up
        self._activity: dict[str, tuple[str, int]] = {}  # what this process stored since its last activity event
        self._activity_task: asyncio.Task[None] | None = None
        self._every_session_end: list[Callable[[str], None]] = []
        self._every_room: list[Callable[[Room], None]] = []
        self._periodic: asyncio.Task[None] | None = None
        self._publishing: set[asyncio.Task[None]] = set()
        self._unannounced: deque[tuple[str | None, Event]] = deque(maxlen=_UNANNOUNCED)
        self._repair: asyncio.Task[None] | None = None
        # who is in the rooms this process shows, and who types there
        self.presence = PresenceFeed(bus=bus, origin=self._origin, timing=presence_timing)

    def now(self) -> datetime:
        """This process's clock, as the hub reads it."""
        return self._clock()

    def attach(self, sink: HubSink) -> None:
        """Set the one sink (the broadcaster); before start."""
        self._sink = sink

    @property
    def sink(self) -> HubSink | None:
        """The sink attached, so that a wrapper can pass everything on to it (the benchmark's pages do)."""
        return self._sink

    def on_every_session_end(self, listener: Callable[[str], None]) -> None:
        """Call ``listener`` with the digest of every session that ends, here or in another process."""
        self._every_session_end.append(listener)

    def on_every_room(self, listener: Callable[[Room], None]) -> None:
        """Call ``listener`` with every room made, here or in another process."""
        self._every_room.append(listener)

    # -- rooms this process shows --------------------------------------------------------------------
    def open_room(self, room: str) -> None:
        """A view here shows ``room``: subscribe to its channel (once) and prime its memory from DynamoDB."""
        timer = self._closing.pop(room, None)
        if timer is not None:
            timer.cancel()
        if room in self._rooms:
            return
        self._rooms[room] = RoomMemory(
            room, store=self._store, clock=self._clock, metrics=self._metrics, size=self._recent_size
        )
        self._bus.watch(room)  # its confirmation triggers the first catch-up, which primes the memory

    def close_room(self, room: str) -> None:
        """No view here shows ``room`` any more: unsubscribe after the linger, unless a view opens it again."""
        if room not in self._rooms or room in self._closing:
            return
        if self._linger <= 0:
            self._forget(room)
            return
        self._closing[room] = asyncio.get_running_loop().call_later(self._linger, self._forget, room)

    def _forget(self, room: str) -> None:
        self._closing.pop(room, None)
        if self._rooms.pop(room, None) is not None:
            self._bus.unwatch(room)
            self.presence.room_forgotten(room)

    @property
    def open_rooms(self) -> frozenset[str]:
        return frozenset(self._rooms)

    # -- delivery --------------------------------------------------------------------------------------
    def deliver(self, room: str, messages: Iterable[Message]) -> list[Message]:
        """Hand the messages of ``room`` not seen before to the sink; returns those new ones."""
        memory = self._rooms.get(room)
        if memory is None:
            return []  # nobody here shows the room: nothing to do (the activity channel carries its counts)
        fresh = memory.remember(m for m in messages if m.room == room)
        self._hand(room, fresh)
        return fresh

    def _hand(self, room: str, fresh: list[Message]) -> None:
        if not fresh:
            return
        self._heard(room, fresh[-1].key)
        self.presence.messages_arrived(room, {m.author_id for m in fresh})
        if self._sink is not None:
            try:
                self._sink.on_messages(room, fresh)
            except Exception:
                # one broken view must never stop the hub
                log.exception("the broadcaster failed to take new messages")

    def _heard(self, room: str, key: str) -> None:
        if key > self._newest.get(room, ""):
            self._newest[room] = key

    def learn_newest(self, room: str, key: str) -> None:
        """What DynamoDB said is the newest key of ``room``; activity keeps it current from here on."""
        self._heard(room, key)

    def newest(self, room: str) -> str | None:
        """The newest key this process has heard of in ``room`` since its activity channel was last (re)subscribed;
        None when it has not heard (the room may still hold messages: ask DynamoDB)."""
        return self._newest.get(room)

    def on_event(self, room: str | None, event: Event) -> None:
        """The bus subscriber's entry point."""
        try:
            if room is not None and event["type"] in PRESENCE_TYPES:
                if room in self._rooms:
                    self.presence.on_event(room, event)
                return
            if room is not None:
                message = events.message_of(event)
                if message is not None and message.room == room:
                    self.deliver(room, [message])
                return
            self._on_activity_event(event)
        except (KeyError, TypeError, ValueError, AttributeError):
            log.warning("ignored a malformed %s event", event.get("type"))

    def _on_activity_event(self, event: Event) -> None:
        kind = (event["type"], event["op"])
        if kind == ("session", "end"):
            self._session_ended(str(event["session"]))
        elif event.get("origin") == self._origin:
            return  # applied here when it was published
        elif kind == ("activity", "rooms"):
            self._apply_activity(events.activity_of(event))
        elif kind == ("read", "marks"):
            self._apply_reads(events.reads_of(event))
        elif kind == ("room", "add"):
            self._room_added(events.room_of(event))

    def _apply_activity(self, rooms: dict[str, tuple[str, int]]) -> None:
        for room, (newest, _) in rooms.items():
            self._heard(room, newest)
        if rooms and self._sink is not None:
            self._sink.on_activity(rooms)

    def _apply_reads(self, marks: list[tuple[str, str, str]]) -> None:
        if self._sink is None:
            return
        for reader, room, key in marks:
            self._sink.on_read(reader, room, key)

    def _room_added(self, room: Room) -> None:
        # the room list first (a page loaded from now on lists the room), then the tabs open now
        for hook in self._every_room:
            hook(room)
        if self._sink is not None:
            self._sink.on_room(room)

    def _session_ended(self, digest: str) -> None:
        for hook in self._every_session_end:
            hook(digest)
        if self._sink is not None:
            try:
                self._sink.on_session_end(digest)
            except Exception:
                log.exception("the broadcaster failed to close an ended session")

    # -- announcing ------------------------------------------------------------------------------------
    def announce(self, message: Message) -> None:
        """Show a stored message here at once and tell every other process through Redis, without waiting for it.

        The sender's answer never waits for Redis: a publish that fails or times out is published again once Redis
        answers, and the other processes' catch-up finds the message in DynamoDB in any case.
        """
        self.deliver(message.room, [message])
        self._heard(message.room, message.key)
        newest, count = self._activity.get(message.room, ("", 0))
        self._activity[message.room] = (max(newest, message.key), count + 1)
        self._publish_soon(message.room, events.message_added(message))

    def announce_change(self, op: str, message: Message) -> None:
        """Show a stored change (``op`` of events.CHANGE_OPS) here at once and tell every other process, as announce
        does for a new message: a lost publish is published again, and catch-up reads the change feed anyway."""
        self.deliver(message.room, [message])
        self._publish_soon(message.room, events.message_changed(op, message))

    def announce_room(self, room: Room) -> None:
        """Tell every process (this one at once) that ``room`` exists."""
        self._room_added(room)
        self._publish_soon(None, events.room_added(room, origin=self._origin))

    def reads_here(self, marks: list[tuple[str, str, str]]) -> None:
        """Tell this process's tabs of these readers, at once, what they have read."""
        self._apply_reads(marks)

    def announce_reads(self, marks: list[tuple[str, str, str]]) -> None:
        """Tell the other processes' tabs of these readers what they have read (in one event)."""
        if marks:
            self._publish_soon(None, events.reads(marks, origin=self._origin))

    async def announce_session_end(self, token: str) -> None:
        """Tell every view of this session, here and in other processes, that it has ended."""
        digest = session_digest(token)
        self._session_ended(digest)
        await self._bus.publish(None, events.session_ended(digest))

    def _publish_soon(self, room: str | None, event: Event) -> None:
        task = asyncio.create_task(self._publish(room, event), name="announce")
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    async def _publish(self, room: str | None, event: Event) -> None:
        try:
            await self._bus.publish(room, event)
            self._count_announced(event)
        except BusUnavailable as exc:
            self._metrics.announce_failures.inc()
            log.warning("could not announce a %s event (%s); announcing again once Redis answers", event["type"], exc)
            self._unannounced.append((room, event))
            if self._repair is None or self._repair.done():
                self._repair = asyncio.create_task(self._announce_again(), name="announce again")

    def _count_announced(self, event: Event) -> None:
        # the counter is of stored messages: changes, activity, rooms and read markers ride the bus too, uncounted
        if event["type"] == "message" and event["op"] == "add":
            self._metrics.announced.inc()

    async def _announce_again(self) -> None:
        """Publish what could not be published, oldest first, backing off while Redis does not answer."""
        delay = _REPAIR_BACKOFF[0]
        while self._unannounced:
            await asyncio.sleep(delay)
            try:
                while self._unannounced:
                    await self._bus.publish(*self._unannounced[0])
                    _, event = self._unannounced.popleft()
                    self._count_announced(event)
                log.info("announced again what Redis missed")
            except BusUnavailable:
                delay = min(delay * 2, _REPAIR_BACKOFF[1])

    async def _send_activity_forever(self) -> None:
        while True:
            await asyncio.sleep(self._activity_interval)
            self._send_activity()

    def _send_activity(self) -> None:
        if not self._activity:
            return
        rooms, self._activity = self._activity, {}
        if self._sink is not None:
            self._sink.on_activity(rooms)
        self._publish_soon(None, events.activity(rooms, origin=self._origin))

    async def flush(self, *, within: float) -> None:
        """Send pending activity and wait up to ``within`` seconds for announcements under way (before exiting)."""
        self._send_activity()
        await self.presence.leave_everywhere(within=within)
        if self._publishing:
            await asyncio.wait(set(self._publishing), timeout=within)

    # -- catch-up --------------------------------------------------------------------------------------
    def since(self, room: str, key: str | None) -> list[Message] | None:
        """What a reader of ``room`` whose newest message is ``key`` may have missed, from memory (see
        RoomMemory.since), or None when memory does not reach back or the room is not shown here."""
        memory = self._rooms.get(room)
        return None if memory is None else memory.since(key)

    async def catch_up(self, room: str) -> None:
        """Read what DynamoDB holds for ``room`` since its last catch-up (minus an overlap) and deliver what is new.

        The first read of a room fills its memory with the newest page; of that, only what is newer than a little
        before the room was opened is news for the views (they read their own first page).
        """
        memory = self._rooms.get(room)
        if memory is None:
            return
        found = await memory.read_missed()
        if found is None or self._rooms.get(room) is not memory:
            return
        fresh = memory.remember(found)
        if not memory.primed_before:
            news_from = floor_before(None, now=memory.opened_at)
            self._hand(room, [m for m in fresh if m.key > news_from])
            return
        self._hand(room, fresh)
        if fresh:
            self._metrics.caught_up.inc(len(fresh))
            log.info("catch-up delivered %d message(s) that were not announced", len(fresh))

    async def _subscribed(self, room: str | None) -> None:
        if room is None:
            # while the activity channel was away, rooms may have moved on unheard: what this process knew is stale
            self._newest.clear()
            return
        await self.presence.room_subscribed(room)
        await self.catch_up(room)

    async def _catch_up_forever(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            for room in list(self._rooms):
                try:
                    await self.catch_up(room)
                except ChatError as exc:
                    log.warning("catch-up of a room failed: %s", exc)

    # -- lifecycle -------------------------------------------------------------------------------------
    async def start(self, *, catch_up_interval: float) -> None:
        """Start the subscriber, the periodic check and the activity sender."""
        self._bus.start(on_event=self.on_event, on_subscribed=self._subscribed)
        self._periodic = asyncio.create_task(self._catch_up_forever(catch_up_interval), name="periodic catch-up")
        self._activity_task = asyncio.create_task(self._send_activity_forever(), name="room activity")
        self.presence.start()

    async def stop(self) -> None:
        for task in (self._repair, self._periodic, self._activity_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._periodic = self._activity_task = self._repair = None
        for timer in self._closing.values():
            timer.cancel()
        await self.presence.stop()
        await self._bus.stop()
