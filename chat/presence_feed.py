"""Presence and typing between processes: the registry (chat/presence.py) wired to the bus by the hub.

A process tells the others of its people in a room with a ``presence`` event on the room's channel (its full list,
at most one per room per PRESENCE_PUBLISH_SECONDS), and writes the same list to the room's presence hash in Redis,
where a process that starts showing the room reads who is there at once. Both are repeated every heartbeat; what a
process has not repeated for PRESENCE_EXPIRY_SECONDS (it died) no longer counts, here or in the hash. Typing events
travel on the room's channel too, throttled per author. Redis failing never breaks the chat: presence goes stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from . import events
from .bus import Bus
from .errors import BusUnavailable
from .events import Event
from .presence import Person, Presence, TypingThrottle, by_name
from .settings import (
    PRESENCE_EXPIRY_SECONDS,
    PRESENCE_HEARTBEAT_SECONDS,
    PRESENCE_PUBLISH_SECONDS,
    TYPING_SECONDS,
)

log = logging.getLogger(__name__)

Typist = tuple[str, str, float]  # (author_id, name, until) on the feed's clock
PRESENCE_TYPES = frozenset({"presence", "typing"})
# how often typists and silent processes are checked for expiry
_TICK_SECONDS = 0.25


@dataclass(frozen=True)
class PresenceTiming:
    """How often a process repeats its presence, how long others count it, how often it tells of a change."""

    heartbeat: float = PRESENCE_HEARTBEAT_SECONDS
    expiry: float = PRESENCE_EXPIRY_SECONDS
    publish_interval: float = PRESENCE_PUBLISH_SECONDS


class PresenceSink(Protocol):
    """Where the feed tells what changed: the process's broadcaster."""

    def on_presence(self, room: str, people: dict[str, str]) -> None:
        """Everybody in ``room`` now: author_id -> name."""

    def on_typing(self, room: str, typists: list[Typist]) -> None:
        """Who is typing in ``room`` now."""


class PresenceFeed:
    """One per process, owned by the hub."""

    def __init__(
        self,
        *,
        bus: Bus,
        origin: str,
        clock: Callable[[], float] = time.time,
        timing: PresenceTiming | None = None,
    ) -> None:
        timing = timing or PresenceTiming()
        self._bus = bus
        self._origin = origin
        self._clock = clock
        self._heartbeat = timing.heartbeat
        self._expiry = timing.expiry
        self._publish_interval = timing.publish_interval
        self.registry = Presence()
        self._throttle = TypingThrottle()
        self._sink: PresenceSink | None = None
        self._told: dict[str, dict[str, str]] = {}  # room -> the people last told to the sink
        self._published_at: dict[str, float] = {}  # room -> time.monotonic() of its last presence event
        self._publish_later: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._ticking: asyncio.Task[None] | None = None
        self._failures = 0

    def now(self) -> float:
        return self._clock()

    @property
    def origin(self) -> str:
        """This process's id in presence events and in the rooms' presence hashes."""
        return self._origin

    def attach(self, sink: PresenceSink) -> None:
        self._sink = sink

    # -- this process's tabs -------------------------------------------------------------------------------
    def join(self, room: str, author_id: str, name: str) -> None:
        """A tab here shows ``room`` for ``author_id``."""
        if self.registry.join(room, author_id, name):
            self._changed_here(room)

    def leave(self, room: str, author_id: str) -> None:
        """A tab here no longer shows ``room`` for ``author_id``."""
        if self.registry.leave(room, author_id):
            self._changed_here(room)

    def people(self, room: str) -> dict[str, str]:
        """Everybody in ``room`` as this process knows it."""
        return self.registry.people(room, self._clock())

    def typists(self, room: str) -> list[Typist]:
        return self.registry.typists(room, self._clock())

    def typing(self, room: str, author_id: str, name: str) -> bool:
        """``author_id`` types in ``room``: shown here at once and told to the room's other processes; False when
        the author's previous typing event was too recent (it is dropped)."""
        now = self._clock()
        if not self._throttle.allow(room, author_id, now):
            return False
        self.registry.typing(room, author_id, name, now + TYPING_SECONDS)
        self._tell_typing(room)
        self._run(self._publish(room, events.typing(author_id, name, origin=self._origin)))
        return True

    async def read(self, room: str, *, heard_here: bool) -> list[Person]:
        """Everybody in ``room``, for a reader that may not show it here (the API): this process's knowledge when it
        hears the room (``heard_here``), else the room's presence hash. Raises BusUnavailable."""
        if heard_here:
            return by_name(self.people(room))
        merged: dict[str, str] = {}
        for event in (await self._bus.presence(room, now=self._clock())).values():
            merged.update(events.presence_of(event)[1])
        return by_name(merged)

    # -- what the hub tells ----------------------------------------------------------------------------
    async def room_subscribed(self, room: str) -> None:
        """The process hears ``room`` (again): who is there, from the room's presence hash."""
        try:
            found = await self._bus.presence(room, now=self._clock())
        except BusUnavailable as exc:
            log.warning("could not read who is in a room: %s", exc)
            return
        for origin, event in found.items():
            if origin == self._origin:
                continue
            try:
                _, people = events.presence_of(event)
                until = min(float(event["until"]), self._clock() + self._expiry)
            except (KeyError, TypeError, ValueError):
                continue
            self.registry.set_elsewhere(room, origin, people, until)
        self._tell_people(room)

    def room_forgotten(self, room: str) -> None:
        """The process no longer hears ``room``."""
        self.registry.forget(room)
        self._told.pop(room, None)

    def messages_arrived(self, room: str, author_ids: set[str]) -> None:
        """Messages of these authors arrived: they have stopped typing."""
        if self.registry.stopped_typing(room, author_ids):
            self._tell_typing(room)

    def on_event(self, room: str, event: Event) -> None:
        """A presence or typing event on ``room``'s channel; raises ValueError (or KeyError) when malformed."""
        if event.get("origin") == self._origin:
            return  # applied here when it was published
        if event["type"] == "presence":
            origin, people = events.presence_of(event)
            self.registry.set_elsewhere(room, origin, people, self._clock() + self._expiry)
            self._tell_people(room)
        elif event["type"] == "typing":
            _, author_id, name = events.typing_of(event)
            self.registry.typing(room, author_id, name, self._clock() + TYPING_SECONDS)
            self._tell_typing(room)

    # -- telling the sink ------------------------------------------------------------------------------
    def _tell_people(self, room: str) -> None:
        people = self.people(room)
        if self._told.get(room, {}) == people:
            return
        self._told[room] = people
        if self._sink is not None:
            try:
                self._sink.on_presence(room, people)
            except Exception:
                log.exception("the broadcaster failed to take a room's people")

    def _tell_typing(self, room: str) -> None:
        if self._sink is not None:
            try:
                self._sink.on_typing(room, self.typists(room))
            except Exception:
                log.exception("the broadcaster failed to take a room's typists")

    # -- telling the other processes -----------------------------------------------------------------------
    def _changed_here(self, room: str) -> None:
        self._tell_people(room)
        if room in self._publish_later:
            return  # the event under way will carry this change too
        wait = self._published_at.get(room, -float("inf")) + self._publish_interval - time.monotonic()
        if wait <= 0:
            self._announce_soon(room)
        else:
            self._publish_later[room] = asyncio.get_running_loop().call_later(wait, self._announce_soon, room)

    def _announce_soon(self, room: str) -> None:
        self._publish_later.pop(room, None)
        self._published_at[room] = time.monotonic()
        self._run(self._announce(room))

    async def _announce(self, room: str) -> None:
        """This process's list of ``room`` to the hash and the room's channel (an empty list removes it)."""
        event = events.presence(self.registry.here(room), origin=self._origin)
        until = self._clock() + self._expiry
        try:
            await self._bus.put_presence(room, self._origin, event, until=until, ttl=int(self._expiry * 2) + 1)
            await self._bus.publish(room, event)
        except BusUnavailable as exc:
            self._failed(exc)
        if not event["people"]:
            self._published_at.pop(room, None)

    async def _publish(self, room: str, event: Event) -> None:
        try:
            await self._bus.publish(room, event)
        except BusUnavailable as exc:
            self._failed(exc)

    def _failed(self, exc: BusUnavailable) -> None:
        self._failures += 1
        if self._failures in (1, 10, 100) or self._failures % 1000 == 0:
            log.warning("presence could not reach Redis (%d time(s)); it goes stale meanwhile: %s", self._failures, exc)

    def _run(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine, name="presence")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        self._ticking = asyncio.create_task(self._tick_forever(), name="presence heartbeat")

    async def _tick_forever(self) -> None:
        beat_at = time.monotonic() + self._heartbeat
        while True:
            await asyncio.sleep(_TICK_SECONDS)
            people_changed, typing_changed = self.registry.expire(self._clock())
            for room in people_changed:
                self._tell_people(room)
            for room in typing_changed:
                self._tell_typing(room)
            if time.monotonic() >= beat_at:
                beat_at = time.monotonic() + self._heartbeat
                for room in self.registry.rooms_here():
                    if room not in self._publish_later:
                        self._announce_soon(room)

    async def leave_everywhere(self, *, within: float) -> None:
        """Take this process's people off every room now (a clean stop), waiting up to ``within`` seconds."""
        rooms = self.registry.rooms_here()
        for room in rooms:
            self.registry.clear_here(room)
        if rooms:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(within):
                    await asyncio.gather(*(self._announce(room) for room in rooms))

    async def stop(self) -> None:
        """Stop without taking anybody off (a process that dies does the same): others let its entries expire."""
        for timer in self._publish_later.values():
            timer.cancel()
        self._publish_later.clear()
        tasks = [t for t in (self._ticking, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._ticking = None
