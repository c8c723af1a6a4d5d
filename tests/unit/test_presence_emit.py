"""The broadcaster's presence and typing frames: deltas paced to one emit per room per interval, whatever the churn."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from nicegui import core

from chat.hub import Hub
from chat.metrics import Metrics
from chat.storage import Dynamo, MessageStore, TableNames
from components import presence_emit
from components.broadcast import Broadcaster, socket_room
from components.presence_emit import PRESENCE_EVENT, TYPING_EVENT
from tests.helpers import wait_for
from tests.recording import RecordingBus, RecordingSio
from tests.unit.test_broadcast_activity import FakeView

INTERVAL = 0.3


@dataclass
class Rig:
    broadcaster: Broadcaster
    hub: Hub
    sio: RecordingSio


@pytest.fixture
async def rig(memory_db: Dynamo, tables: TableNames, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Rig]:
    sio = RecordingSio()
    monkeypatch.setattr(core, "sio", sio)
    monkeypatch.setattr(core, "loop", asyncio.get_running_loop())
    monkeypatch.setattr(presence_emit, "PRESENCE_EMIT_SECONDS", INTERVAL)
    hub = Hub(store=MessageStore(db=memory_db, tables=tables), bus=RecordingBus(), linger=0)  # type: ignore[arg-type]
    yield Rig(Broadcaster(hub, lobby_id="lobby", metrics=Metrics()), hub, sio)
    await hub.stop()


async def test_churn_reaches_the_tabs_as_few_paced_deltas(rig: Rig) -> None:
    rig.broadcaster.register("t0", FakeView(room="lobby", author_id="a0", session_digest="d0", name="Ana"))
    await asyncio.sleep(0.05)
    assert rig.sio.of(PRESENCE_EVENT) == [({"add": [["a0", "Ana"]], "gone": []}, socket_room("lobby"))]
    for i in range(1, 200):  # a crowd arrives, and half of it leaves again, within one interval
        rig.broadcaster.register(
            f"t{i}", FakeView(room="lobby", author_id=f"a{i}", session_digest="d0", name=f"P{i:03d}")
        )
    for i in range(1, 100):
        rig.broadcaster.unregister(f"t{i}")
    rig.broadcaster.unregister("t0")
    await wait_for(lambda: len(rig.sio.of(PRESENCE_EVENT)) >= 2, timeout=10)
    await asyncio.sleep(INTERVAL)  # and nothing after it: the whole crowd was one delta
    frames = rig.sio.of(PRESENCE_EVENT)
    assert len(frames) == 2
    first, second = (at for kind, _, _, at in rig.sio.emits if kind == PRESENCE_EVENT)
    assert second - first >= INTERVAL * 0.95  # paced: however slow this machine, not sooner than the interval
    delta, room = frames[1]
    assert room == socket_room("lobby")
    assert delta["gone"] == ["a0"]  # who came and went within the interval is in neither list
    assert [p[1] for p in delta["add"]] == [f"P{i:03d}" for i in range(100, 200)]


async def test_a_person_with_two_tabs_stays_until_the_last_goes_or_its_socket_does(rig: Rig) -> None:
    rig.broadcaster.register("t1", FakeView(room="lobby", author_id="a1", session_digest="d0", name="Ana"))
    rig.broadcaster.register("t2", FakeView(room="lobby", author_id="a1", session_digest="d0", name="Ana"))
    rig.broadcaster.unregister("t1")
    assert rig.hub.presence.people("lobby") == {"a1": "Ana"}
    rig.broadcaster.away("t2")  # the last tab's socket went: off the list before NiceGUI drops the page
    assert rig.hub.presence.people("lobby") == {}
    rig.broadcaster.back("t2")
    rig.broadcaster.back("t2")
    assert rig.hub.presence.people("lobby") == {"a1": "Ana"}
    rig.broadcaster.unregister("t2")
    assert rig.hub.presence.people("lobby") == {}


async def test_typing_frames_are_paced_and_carry_the_time_left(rig: Rig) -> None:
    rig.broadcaster.register("t1", FakeView(room="lobby", author_id="a1", session_digest="d0", name="Ana"))
    for i in range(20):
        rig.hub.presence.typing("lobby", f"a{i}", f"P{i:02d}")
    await asyncio.sleep(INTERVAL * 0.5)
    frames = rig.sio.of(TYPING_EVENT)
    assert len(frames) == 1
    typists, room = frames[0]
    assert room == socket_room("lobby")
    assert [t[1] for t in typists] == [f"P{i:02d}" for i in range(20)]
    assert all(4.5 <= t[2] <= 5.0 for t in typists)
    rig.hub.presence.typing("lobby", "b1", "Bo")
    rig.hub.presence.typing("lobby", "b2", "Cy")
    await asyncio.sleep(INTERVAL * 0.4)
    assert len(rig.sio.of(TYPING_EVENT)) == 1
    await asyncio.sleep(INTERVAL * 0.4)
    assert len(rig.sio.of(TYPING_EVENT)) == 2


async def test_the_full_frame_lists_everybody_by_name(rig: Rig) -> None:
    rig.hub.presence.join("lobby", "b1", "bo")
    rig.hub.presence.join("lobby", "a1", "Ana")
    people, typists = rig.broadcaster.presence.full("lobby")
    assert people == {"all": [["a1", "Ana"], ["b1", "bo"]]}
    assert typists == []
