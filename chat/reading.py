"""Read markers: how far each session has read each room, for the room list's unread counts.

A view marks its room read when it opens, when its reader posts, when it closes, and while it shows new messages
at most every few seconds. This process's other tabs of the session hear of it at once, and the other processes
(one event) once per interval. A marker is written to DynamoDB within that interval the first time it moves, and
while it keeps moving (a reader watching a busy room) at most once per store interval, and at stop: a thousand tabs
watching a busy room would otherwise cost a write each every few seconds, which measured more CPU than sending them
the messages (docs/benchmarks.md). The stored marker serves page loads in other processes and after a restart; this
process answers from what it was told.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from .errors import ChatError
from .hub import Hub
from .metrics import Metrics
from .storage import MarkerStore

log = logging.getLogger(__name__)

MARKER_INTERVAL = 1.0
# a marker that keeps moving is written at most this often (a page load elsewhere may count this much as unread)
STORE_INTERVAL = 30.0
_WRITES_AT_ONCE = 8
# (reader, room) pairs remembered to drop markers that do not move forward; a forgotten one costs one more write
_REMEMBERED = 100_000


class ReadTracker:
    """Moves read markers forward: tells tabs at once and other processes once per interval, writes DynamoDB at
    most once per store interval for a marker that keeps moving."""

    def __init__(
        self,
        *,
        store: MarkerStore,
        hub: Hub,
        metrics: Metrics | None = None,
        interval: float = MARKER_INTERVAL,
        store_interval: float = STORE_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._metrics = metrics or Metrics()
        self._hub = hub
        self._interval = interval
        self._store_interval = store_interval
        self._clock = clock
        self._told: dict[tuple[str, str], str] = {}  # (reader, room) -> the newest key told
        self._pending: dict[tuple[str, str], tuple[str, int]] = {}  # (reader, room) -> (key, expires_at)
        self._unstored: dict[tuple[str, str], tuple[str, int]] = {}  # told to the other processes, not written yet
        # (reader, room) -> when last written, oldest first; entries older than the store interval are let go
        self._stored_at: dict[tuple[str, str], float] = {}
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

    def told(self, reader: str, room: str) -> str:
        """The newest key marked here for ``reader`` in ``room``, written or not ("" when none is remembered)."""
        return self._told.get((reader, room), "")

    async def flush(self, *, due_only: bool = False) -> None:
        """Tell the other processes of the markers moved since the last flush, and write them (with ``due_only``,
        those not written within the store interval); a failed write is tried again at the next flush."""
        pending, self._pending = self._pending, {}
        self._hub.announce_reads([(reader, room, key) for (reader, room), (key, _) in pending.items()])
        self._unstored.update(pending)
        now = self._clock()
        while self._stored_at and now - next(iter(self._stored_at.values())) >= self._store_interval:
            del self._stored_at[next(iter(self._stored_at))]  # written long enough ago: due again
        items = [(k, v) for k, v in self._unstored.items() if not due_only or k not in self._stored_at]
        for pair, _ in items:
            del self._unstored[pair]
            self._stored_at.pop(pair, None)  # re-inserted last: the dict stays oldest first
            self._stored_at[pair] = now
        for start in range(0, len(items), _WRITES_AT_ONCE):
            batch = items[start : start + _WRITES_AT_ONCE]
            results = await asyncio.gather(
                *(self._store.advance(r, room, key, expires_at=exp) for (r, room), (key, exp) in batch),
                return_exceptions=True,
            )
            for ((reader, room), value), result in zip(batch, results, strict=True):
                if isinstance(result, ChatError):
                    log.warning("could not save a read marker (%s); trying again", result)
                    self._stored_at.pop((reader, room), None)
                    self._unstored.setdefault((reader, room), value)
                elif isinstance(result, BaseException):
                    raise result
                else:
                    self._metrics.read_marker_writes.inc()

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.flush(due_only=True)

    def start(self) -> None:
        self._task = asyncio.create_task(self._flush_forever(), name="read markers")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()
