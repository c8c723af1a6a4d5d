"""Read markers: how far each session has read each room, for the room list's unread counts.

A view marks its room read when it opens, when its reader posts, when it closes, and while it shows new messages
at most every few seconds. This process's other tabs of the session hear of it at once; the marker is written to
DynamoDB and told to the other processes (one event) once per interval, so a busy room costs one write per reader
and interval, not one per message per reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from .errors import ChatError
from .hub import Hub
from .storage import MarkerStore

log = logging.getLogger(__name__)

MARKER_INTERVAL = 1.0
_WRITES_AT_ONCE = 8
# (reader, room) pairs remembered to drop markers that do not move forward; a forgotten one costs one more write
_REMEMBERED = 100_000


class ReadTracker:
    """Moves read markers forward: tells tabs at once, writes DynamoDB once per interval."""

    def __init__(self, *, store: MarkerStore, hub: Hub, interval: float = MARKER_INTERVAL) -> None:
        self._store = store
        self._hub = hub
        self._interval = interval
        self._told: dict[tuple[str, str], str] = {}  # (reader, room) -> the newest key told
        self._pending: dict[tuple[str, str], tuple[str, int]] = {}  # (reader, room) -> (key, expires_at)
        self._task: asyncio.Task[None] | None = None

    def mark(self, reader: str, room: str, key: str, *, expires_at: int) -> None:
        """``reader`` has seen ``room`` up to ``key``; ignored unless it moves the marker forward."""
        if key <= self._told.get((reader, room), ""):
            return
        self._told.pop((reader, room), None)  # re-inserted last: the oldest entries go first when trimming
        self._told[(reader, room)] = key
        while len(self._told) > _REMEMBERED:
            del self._told[next(iter(self._told))]
        self._pending[(reader, room)] = (key, expires_at)
        self._hub.reads_here([(reader, room, key)])

    def told(self, reader: str, room: str) -> str | None:
        """The newest key ``reader`` has read in ``room`` as this process knows it, written to DynamoDB or not yet."""
        return self._told.get((reader, room))

    async def flush(self) -> None:
        """Write every pending marker (a failed write is tried again at the next flush)."""
        pending, self._pending = self._pending, {}
        items = list(pending.items())
        self._hub.announce_reads([(reader, room, key) for (reader, room), (key, _) in items])
        for start in range(0, len(items), _WRITES_AT_ONCE):
            batch = items[start : start + _WRITES_AT_ONCE]
            results = await asyncio.gather(
                *(self._store.advance(r, room, key, expires_at=exp) for (r, room), (key, exp) in batch),
                return_exceptions=True,
            )
            for ((reader, room), value), result in zip(batch, results, strict=True):
                if isinstance(result, ChatError):
                    log.warning("could not save a read marker (%s); trying again", result)
                    self._pending.setdefault((reader, room), value)
                elif isinstance(result, BaseException):
                    raise result

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.flush()

    def start(self) -> None:
        self._task = asyncio.create_task(self._flush_forever(), name="read markers")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()
