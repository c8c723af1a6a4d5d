"""The room list's activity emits: one emit reaches every shown room that has news of another room, and
the emits are spaced by the number of tabs they reach, so their cost is bounded per interval, not per message."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import pytest
from nicegui import core

from chat.metrics import Metrics
from chat.presence_feed import PresenceFeed
from components import broadcast
from components.broadcast import ACTIVITY_EVENT, Broadcaster, socket_room
from tests.recording import RecordingBus

KEY = "2026-11-29T18:00:00.000Z#00000000000000aa"


class RecordingSio:
    """What the broadcaster asks of Socket.IO: the emits it makes, by event and room, with when."""

    def __init__(self) -> None:
        self.emits: list[tuple[str, Any, str | list[str], float]] = []

    def on(self, event: str, handler: Any) -> None:
        pass

    async def emit(self, event: str, data: Any, room: str | list[str]) -> None:
        self.emits.append((event, data, room, time.monotonic()))

    def activity(self) -> list[tuple[Any, str | list[str], float]]:
        return [(data, room, at) for event, data, room, at in self.emits if event == ACTIVITY_EVENT]


class QuietHub:
    def __init__(self) -> None:
        self.presence = PresenceFeed(bus=RecordingBus(), origin="quiet")  # type: ignore[arg-type]

    def attach(self, sink: object) -> None:
        pass

    def open_room(self, room: str) -> None:
        pass

    def close_room(self, room: str) -> None:
        pass


@dataclass
class FakeView:
    room: str
    author_id: str
    session_digest: str
    name: str = "Ann"

    def accept(self, payload: list[dict[str, Any]]) -> None:
        pass

    def after(self, key: str | None, changed: str | None = None) -> list[dict[str, Any]]:
        return []

    def read(self, room: str, key: str) -> None:
        pass

    def session_ended(self) -> None:
        pass


@pytest.fixture
async def sio(monkeypatch: pytest.MonkeyPatch) -> RecordingSio:
    recording = RecordingSio()
    monkeypatch.setattr(core, "sio", recording)
    monkeypatch.setattr(core, "loop", asyncio.get_running_loop())  # where NiceGUI's background tasks run
    monkeypatch.setattr(broadcast, "ACTIVITY_EMIT_INTERVAL", 0.01)
    return recording


def _broadcaster(rooms: list[str]) -> Broadcaster:
    broadcaster = Broadcaster(QuietHub(), lobby_id="lobby", metrics=Metrics())  # type: ignore[arg-type]
    for i, room in enumerate(rooms):
        broadcaster.register(f"client{i}", FakeView(room=room, author_id=f"a{i}", session_digest=f"d{i}"))
    return broadcaster


async def test_the_rooms_that_need_the_news_get_it_in_one_emit_and_the_busy_room_does_not(sio: RecordingSio) -> None:
    broadcaster = _broadcaster(["lobby", "lobby", "a", "b"])
    broadcaster.on_activity({"a": (KEY, 2)})
    await asyncio.sleep(0.1)
    # encoded once for every tab it reaches; the tabs of "a" show its messages already
    assert [(data, room) for data, room, _ in sio.activity()] == [
        ({"a": [KEY, 2]}, [socket_room("lobby"), socket_room("b")])
    ]


async def test_news_of_several_rooms_reaches_every_shown_room_in_one_emit(sio: RecordingSio) -> None:
    broadcaster = _broadcaster(["lobby", "a", "b"])
    broadcaster.on_activity({"a": (KEY, 1), "b": (KEY, 3)})
    await asyncio.sleep(0.1)
    # each tab has news of a room it does not show; a tab skips its own room's entry (components/chat_panel.js)
    assert [(data, room) for data, room, _ in sio.activity()] == [
        ({"a": [KEY, 1], "b": [KEY, 3]}, [socket_room("lobby"), socket_room("a"), socket_room("b")])
    ]


async def test_tabs_that_all_show_the_busy_room_are_sent_nothing(sio: RecordingSio) -> None:
    broadcaster = _broadcaster(["lobby"] * 5)
    broadcaster.on_activity({"lobby": (KEY, 1)})
    await asyncio.sleep(0.1)
    assert sio.activity() == []


async def test_emits_to_many_tabs_are_spaced_by_their_number(
    sio: RecordingSio, monkeypatch: pytest.MonkeyPatch
) -> None:
    # four tabs at 0.1 s each within the share: an emit at most every 0.4 s
    monkeypatch.setattr(broadcast, "ACTIVITY_SECONDS_PER_TAB", 0.1 * broadcast.ACTIVITY_CPU_SHARE)
    broadcaster = _broadcaster(["a", "b", "b", "b"])
    broadcaster.on_activity({"a": (KEY, 1)})
    await asyncio.sleep(0.1)  # the first news of a quiet spell goes out after the short interval
    assert len(sio.activity()) == 1
    broadcaster.on_activity({"a": (KEY, 1)})
    broadcaster.on_activity({"a": (KEY, 1)})
    await asyncio.sleep(0.15)
    assert len(sio.activity()) == 1  # not yet: coalesced until the spacing has passed
    await asyncio.sleep(0.4)
    (first, _, at_first), (second, _, at_second) = sio.activity()
    assert at_second - at_first >= 0.39
    assert first == {"a": [KEY, 1]}
    assert second == {"a": [KEY, 2]}  # both reports in one emit


async def test_however_many_tabs_the_counts_move_within_the_longest_spacing(
    sio: RecordingSio, monkeypatch: pytest.MonkeyPatch
) -> None:
    # tabs so costly that the CPU share alone would space emits 100 s apart: the cap keeps the counts live
    monkeypatch.setattr(broadcast, "ACTIVITY_SECONDS_PER_TAB", 25 * broadcast.ACTIVITY_CPU_SHARE)
    monkeypatch.setattr(broadcast, "ACTIVITY_MAX_SPACING", 0.3)
    broadcaster = _broadcaster(["a", "b", "b", "b"])
    broadcaster.on_activity({"a": (KEY, 1)})
    await asyncio.sleep(0.1)
    broadcaster.on_activity({"a": (KEY, 1)})
    await asyncio.sleep(0.45)
    (_, _, at_first), (second, _, at_second) = sio.activity()
    assert 0.29 <= at_second - at_first <= 0.4
    assert second == {"a": [KEY, 1]}
