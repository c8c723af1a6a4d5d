"""One room's newest messages in this process's memory, and what it takes to keep them complete.

Memory answers a returning reader without a query, and drops keys already handed out. What may be missing (after
a reconnect, a resubscribe, and on a slow timer) is read from DynamoDB from this process's own clock minus an
overlap, never from the keys seen: one key dated in the future must not blind the catch-up to what is stored now.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from .errors import ChatError
from .metrics import Metrics
from .models import Message, key_prefix, key_time
from .storage import MessageStore

log = logging.getLogger(__name__)

# a message can be stored with a key a little older than one already seen (a slow write, clock skew between
# processes, botocore's retries); every catch-up re-reads this much before where it could have missed something,
# and duplicates are dropped by key
CATCH_UP_OVERLAP = timedelta(seconds=30)
_CATCH_UP_PAGE = 500
# the newest messages kept per room shown here, so that a returning reader is answered without a query
RECENT_MESSAGES = 2000
# what a room's memory starts with: enough for every reader's first page and a returning tab's gap
PRIMED_MESSAGES = 200


def floor_before(key: str | None, *, now: datetime) -> str:
    """Where to read from to be sure of everything stored after ``key`` was seen: CATCH_UP_OVERLAP before it.

    A key's time is never trusted past this process's own clock, so a key from the future (stored by an old
    version, or a clock far ahead) cannot make a reader skip what is stored now.
    """
    moment = key_time(key) if key is not None else None
    moment = now if moment is None else min(moment, now)
    return key_prefix(moment - CATCH_UP_OVERLAP)


class RoomMemory:
    """The newest messages of one room, sorted by key; knows from which key on it holds every message."""

    def __init__(
        self,
        room: str,
        *,
        store: MessageStore,
        clock: Callable[[], datetime],
        metrics: Metrics,
        size: int = RECENT_MESSAGES,
        primed: int = PRIMED_MESSAGES,
    ) -> None:
        self.room = room
        self.opened_at = clock()
        self._store = store
        self._clock = clock
        self._metrics = metrics
        self._size = size
        self._primed = primed
        self._keys: list[str] = []  # sorted; the newest ``size`` keys seen
        self._messages: dict[str, Message] = {}
        # memory holds every message with a key above this (once primed); "~" is above every key: nothing yet
        self._complete_above = "~"
        self._caught_up_at: datetime | None = None  # this process's clock when the last good catch-up started
        self._was_primed = False
        self._lock = asyncio.Lock()
        self._old_versions: OrderedDict[str, int] = OrderedDict()  # versions handed on of keys below memory

    @property
    def primed_before(self) -> bool:
        """Whether a catch-up had succeeded before the last one (the first read at start is not a repair)."""
        return self._was_primed

    def remember(self, messages: Iterable[Message]) -> list[Message]:
        """Keep the messages not seen before, and the higher versions of those seen; returns them, in key order."""
        fresh: list[Message] = []
        for message in sorted(messages, key=lambda m: (m.key, m.version)):
            held = self._messages.get(message.key)
            if held is not None:
                if message.version > held.version:
                    self._messages[message.key] = message
                    fresh.append(message)
                continue
            if message.version > 0 and message.key < self._complete_above:
                # a change of a message older than memory holds: handed on once per version, not kept
                if message.version <= self._old_versions.get(message.key, -1):
                    continue
                self._old_versions[message.key] = message.version
                self._old_versions.move_to_end(message.key)
                while len(self._old_versions) > self._size:
                    self._old_versions.popitem(last=False)
                fresh.append(message)
                continue
            bisect.insort(self._keys, message.key)
            self._messages[message.key] = message
            fresh.append(message)
        while len(self._keys) > self._size:
            self._complete_above = self._keys.pop(0)
            del self._messages[self._complete_above]
        return fresh

    def since(self, key: str | None) -> list[Message] | None:
        """What a reader whose newest message is ``key`` may have missed, from memory: every message from
        CATCH_UP_OVERLAP before ``key`` on (the reader drops what it has), or None when memory does not reach back.
        """
        floor = floor_before(key, now=self._clock())
        if floor < self._complete_above:
            return None
        start = bisect.bisect_right(self._keys, floor)
        return [self._messages[k] for k in self._keys[start:]]

    async def read_missed(self) -> list[Message] | None:
        """What DynamoDB holds since the last catch-up began (minus the overlap); the newest page the first time.

        None when DynamoDB did not answer: the next catch-up starts from the same place.
        """
        async with self._lock:  # a resubscribe and the timer may fire together: one query is enough
            started = self._clock()
            self._was_primed = self._caught_up_at is not None
            try:
                if self._caught_up_at is None:
                    page = await self._store.page(self.room, limit=self._primed)
                    found = page.messages
                    self._complete_above = min(self._complete_above, "" if page.cursor is None else page.cursor)
                else:
                    floor = key_prefix(self._caught_up_at - CATCH_UP_OVERLAP)
                    # new keys, then the change feed after the same floor: edits, deletes and reactions make no key
                    found = await self._read_after(floor)
                    found.extend(await self._read_changed_after(floor))
            except ChatError as exc:
                log.warning("catch-up of a room failed: %s", exc)
                return None
            self._caught_up_at = started
            return found

    async def _read_after(self, floor: str) -> list[Message]:
        """Everything after ``floor``, page by page: a busy room can hold more than one page in the overlap."""
        found: list[Message] = []
        cursor: str | None = floor
        while cursor is not None:
            batch, cursor = await self._store.after(self.room, cursor, limit=_CATCH_UP_PAGE)
            found.extend(batch)
        return found

    async def _read_changed_after(self, floor: str) -> list[Message]:
        """Every message changed after ``floor`` (a change key has a message key's shape), page by page."""
        found: list[Message] = []
        cursor: str | None = floor
        while cursor is not None:
            batch, cursor = await self._store.changes.after(self.room, cursor, limit=_CATCH_UP_PAGE)
            found.extend(batch)
        return found
