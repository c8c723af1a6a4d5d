"""The broadcaster's registry of views, without sockets: which rooms the hub keeps open, and who hears of what.

The emits themselves need NiceGUI's running Socket.IO server; the UI tier covers them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import socketio
from nicegui import core

from chat.hub import Hub
from chat.metrics import Metrics
from chat.models import new_message_key, session_digest
from chat.service import ChatService
from chat.storage import Dynamo, MessageStore, TableNames
from components.broadcast import Broadcaster, in_room
from tests.recording import RecordingBus, RecordingSio


@dataclass
class FakeView:
    """A chat view as the broadcaster sees it: its room, author and session, and what it was told."""

    room: str
    author_id: str
    session_digest: str = "d0"
    name: str = "Ann"
    reads: list[tuple[str, str]] = field(default_factory=list)
    ended: int = 0
    broken: bool = False

    def accept(self, payload: list[dict[str, Any]]) -> None:
        raise AssertionError("no message is delivered in these tests")

    def after(self, key: str | None, changed: str | None = None) -> list[dict[str, Any]]:
        return []

    def read(self, room: str, key: str) -> None:
        if self.broken:
            raise RuntimeError("this tab is gone")
        self.reads.append((room, key))

    def session_ended(self) -> None:
        if self.broken:
            raise RuntimeError("this tab is gone")
        self.ended += 1


@dataclass
class Rig:
    broadcaster: Broadcaster
    hub: Hub
    bus: RecordingBus
    metrics: Metrics


@pytest.fixture
async def rig(memory_db: Dynamo, tables: TableNames, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Rig]:
    # the Online list's emits go nowhere
    monkeypatch.setattr(core, "sio", RecordingSio())
    monkeypatch.setattr(core, "loop", asyncio.get_running_loop())
    bus = RecordingBus()
    metrics = Metrics()
    hub = Hub(store=MessageStore(db=memory_db, tables=tables), bus=bus, linger=0)  # type: ignore[arg-type]
    yield Rig(Broadcaster(hub, lobby_id="lobby", metrics=metrics), hub, bus, metrics)
    await hub.stop()


async def test_the_first_view_of_a_room_opens_it_and_the_last_closes_it(rig: Rig) -> None:
    rig.broadcaster.register("tab1", FakeView("kitchen", "ann"))
    assert rig.bus.watched == ["kitchen"]
    assert rig.hub.open_rooms == {"kitchen"}
    rig.broadcaster.register("tab2", FakeView("kitchen", "bob"))
    rig.broadcaster.register("tab3", FakeView("lobby", "bob"))
    assert rig.bus.watched == ["kitchen", "lobby"]  # the second view of the kitchen asks for nothing more
    assert (rig.broadcaster.views_of("kitchen"), rig.broadcaster.view_count) == (2, 3)
    rig.broadcaster.unregister("tab1")
    assert rig.bus.unwatched == []  # tab2 still shows it
    rig.broadcaster.unregister("tab2")
    assert rig.bus.unwatched == ["kitchen"]
    assert rig.hub.open_rooms == {"lobby"}
    rig.broadcaster.unregister("tab2")  # a second close of a tab changes nothing
    rig.broadcaster.unregister("never registered")
    assert rig.bus.unwatched == ["kitchen"]
    assert (rig.broadcaster.views_of("kitchen"), rig.broadcaster.view_count) == (0, 1)


async def test_a_tab_that_moves_to_another_room_lets_go_of_the_first(rig: Rig) -> None:
    rig.broadcaster.register("tab1", FakeView("kitchen", "ann"))
    rig.broadcaster.register("tab1", FakeView("garden", "ann"))  # the same page, now showing another room
    assert rig.hub.open_rooms == {"garden"}
    assert (rig.bus.watched, rig.bus.unwatched) == (["kitchen", "garden"], ["kitchen"])
    assert rig.broadcaster.view_count == 1


async def test_open_tabs_are_counted_at_every_scrape(rig: Rig) -> None:
    def tabs() -> float | None:
        return rig.metrics.registry.get_sample_value("sinchchat_open_tabs")

    assert tabs() == 0
    rig.broadcaster.register("tab1", FakeView("kitchen", "ann"))
    rig.broadcaster.register("tab2", FakeView("lobby", "ann"))
    assert tabs() == 2
    rig.broadcaster.unregister("tab1")
    assert tabs() == 1


async def test_a_read_reaches_the_reader_s_other_rooms_and_skips_the_views_of_that_room(rig: Rig) -> None:
    here = FakeView("kitchen", "ann")  # shows the room read: it knows what it shows
    elsewhere = FakeView("lobby", "ann")  # another tab of the same reader: its room list clears the count
    other_reader = FakeView("lobby", "bob")
    for client_id, view in (("t1", here), ("t2", elsewhere), ("t3", other_reader)):
        rig.broadcaster.register(client_id, view)
    key = new_message_key()
    rig.hub.reads_here([("ann", "kitchen", key)])
    assert (here.reads, elsewhere.reads, other_reader.reads) == ([], [("kitchen", key)], [])


async def test_a_broken_view_does_not_stop_the_others_hearing_of_a_read(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    broken, fine = FakeView("lobby", "ann", broken=True), FakeView("garden", "ann")
    rig.broadcaster.register("t1", broken)
    rig.broadcaster.register("t2", fine)
    key = new_message_key()
    with caplog.at_level(logging.ERROR, logger="components.broadcast"):
        rig.broadcaster.on_read("ann", "kitchen", key)
    assert fine.reads == [("kitchen", key)]
    assert "a chat view failed to take an update" in caplog.text


async def test_a_session_end_reaches_every_view_of_that_session_and_no_other(rig: Rig) -> None:
    ivy = session_digest("token-of-ivy")
    tabs = [FakeView("lobby", "ivy", ivy), FakeView("kitchen", "ivy", ivy), FakeView("lobby", "jon", "jon")]
    for n, view in enumerate(tabs):
        rig.broadcaster.register(f"t{n}", view)
    await rig.hub.announce_session_end("token-of-ivy")
    assert [view.ended for view in tabs] == [1, 1, 0]


async def test_marking_a_room_read_clears_it_in_the_reader_s_other_tabs(memory_service: ChatService) -> None:
    broadcaster = Broadcaster(memory_service.hub, lobby_id="lobby", metrics=Metrics())
    ann = await memory_service.register("Ann")
    other_tab = FakeView("lobby", ann.author_id)
    broadcaster.register("t1", other_tab)
    key = new_message_key()
    memory_service.mark_read(ann, "kitchen", key)
    memory_service.mark_read(ann, "kitchen", key)  # the same again: nothing new to tell
    memory_service.mark_read(ann, "kitchen", "not a key")
    assert other_tab.reads == [("kitchen", key)]
    broadcaster.unregister("t1")


async def test_a_socket_is_in_its_page_s_room_and_in_no_other_page_s(monkeypatch: pytest.MonkeyPatch) -> None:
    server = socketio.AsyncServer()
    monkeypatch.setattr(core, "sio", server)
    manager = server.manager
    sids = [f"sid{i}" for i in range(3)]
    for i, sid in enumerate(sids):  # connected as socketio registers a socket, then NiceGUI's handshake puts it
        for room in (None, sid, f"client{i}"):  # in a room named after its page's client
            manager.basic_enter_room(sid, "/", room, eio_sid=f"eio{i}")
    assert [in_room(sids[0], f"client{i}") for i in range(3)] == [True, False, False]
    assert not in_room(sids[1], "no such client")
    for sid in sids:  # what socketio's own (slower) answer says
        assert {room for room in server.rooms(sid) if room.startswith("client")} == {
            f"client{i}" for i in range(3) if in_room(sid, f"client{i}")
        }
