"""Read markers: told to the session's tabs at once and to other processes every flush, written to DynamoDB the
first time they move and then at most once per store interval, so readers of a busy room do not each cost a write
every few seconds; whatever is not written yet is written at stop."""

from __future__ import annotations

from chat.errors import StorageUnavailable
from chat.reading import ReadTracker

K1, K2, K3 = (f"2026-11-29T18:00:0{i}.000Z#{i:016x}" for i in (1, 2, 3))


class RecordingStore:
    def __init__(self) -> None:
        self.writes: list[tuple[str, str, str]] = []
        self.failures = 0  # the next writes that fail

    async def advance(self, reader: str, room: str, key: str, *, expires_at: int) -> None:
        if self.failures:
            self.failures -= 1
            raise StorageUnavailable("DynamoDB is not answering")
        self.writes.append((reader, room, key))


class RecordingHub:
    def __init__(self) -> None:
        self.here: list[tuple[str, str, str]] = []
        self.announced: list[list[tuple[str, str, str]]] = []

    def reads_here(self, marks: list[tuple[str, str, str]]) -> None:
        self.here += marks

    def announce_reads(self, marks: list[tuple[str, str, str]]) -> None:
        if marks:
            self.announced.append(marks)


def _tracker(now: list[float]) -> tuple[ReadTracker, RecordingStore, RecordingHub]:
    store, hub = RecordingStore(), RecordingHub()
    tracker = ReadTracker(store=store, hub=hub, store_interval=30, clock=lambda: now[0])  # type: ignore[arg-type]
    return tracker, store, hub


async def test_a_marker_that_keeps_moving_is_told_at_once_and_written_once_per_store_interval() -> None:
    now = [0.0]
    tracker, store, hub = _tracker(now)
    tracker.mark("reader", "a", K1, expires_at=1)
    await tracker.flush(due_only=True)
    assert store.writes == [("reader", "a", K1)]  # the first move is written at the first flush
    for moment, key in ((5.0, K2), (10.0, K3)):
        now[0] = moment
        tracker.mark("reader", "a", key, expires_at=1)
        await tracker.flush(due_only=True)
        assert hub.here[-1] == ("reader", "a", key)
        assert hub.announced[-1] == [("reader", "a", key)]
    assert store.writes == [("reader", "a", K1)]
    tracker.mark("other", "a", K2, expires_at=1)  # another reader's first move is not held back
    await tracker.flush(due_only=True)
    assert store.writes == [("reader", "a", K1), ("other", "a", K2)]
    now[0] = 30.0
    await tracker.flush(due_only=True)
    assert store.writes == [("reader", "a", K1), ("other", "a", K2), ("reader", "a", K3)]  # the newest only


async def test_stop_writes_every_marker_not_written_yet() -> None:
    now = [0.0]
    tracker, store, _ = _tracker(now)
    tracker.mark("reader", "a", K1, expires_at=1)
    await tracker.flush(due_only=True)
    tracker.mark("reader", "a", K2, expires_at=1)
    await tracker.flush(due_only=True)
    await tracker.stop()
    assert store.writes == [("reader", "a", K1), ("reader", "a", K2)]


async def test_a_failed_write_is_tried_again_at_the_next_flush() -> None:
    now = [0.0]
    tracker, store, _ = _tracker(now)
    store.failures = 1
    tracker.mark("reader", "a", K1, expires_at=1)
    await tracker.flush(due_only=True)
    assert store.writes == []
    await tracker.flush(due_only=True)
    assert store.writes == [("reader", "a", K1)]
