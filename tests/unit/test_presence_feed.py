"""Presence and typing between processes: two hubs on one fakeredis, as two app processes on one Redis."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from fakeredis import FakeAsyncRedis, FakeServer
from redis.crc import key_slot

from chat import events
from chat.bus import Bus, channel_name, presence_key
from chat.hub import Hub
from chat.models import Message
from chat.presence_feed import PresenceTiming, Typist
from chat.storage import Dynamo, MessageStore, TableNames
from tests.conftest import BUS_KEY
from tests.helpers import wait_for
from tests.recording import RecordingBus

FAST = PresenceTiming(heartbeat=0.2, expiry=0.8, publish_interval=0.05)


class PresenceRecorder:
    """A presence sink: what each room's people and typists were last said to be, and how often."""

    def __init__(self) -> None:
        self.people: dict[str, dict[str, str]] = {}
        self.typists: dict[str, list[str]] = {}
        self.told = 0

    def on_presence(self, room: str, people: dict[str, str]) -> None:
        self.people[room] = dict(people)
        self.told += 1

    def on_typing(self, room: str, typists: list[Typist]) -> None:
        self.typists[room] = [name for _, name, _ in typists]


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


@pytest.fixture
async def processes(
    memory_db: Dynamo, tables: TableNames, server: FakeServer
) -> AsyncIterator[list[tuple[Hub, PresenceRecorder]]]:
    """Two started hubs on one fakeredis (each its own bus), each with a presence recorder."""
    started = []
    for _ in range(2):
        bus = Bus(redis=FakeAsyncRedis(server=server), key=BUS_KEY)
        hub = Hub(store=MessageStore(db=memory_db, tables=tables), bus=bus, linger=0, presence_timing=FAST)
        recorder = PresenceRecorder()
        hub.presence.attach(recorder)
        await hub.start(catch_up_interval=3600)
        await asyncio.wait_for(bus.connected.wait(), 3)
        started.append((hub, recorder))
    yield started
    for hub, _ in started:
        await hub.stop()


async def subscribed(hub: Hub, room: str) -> None:
    """Open ``room`` and wait until its channel is subscribed (its first catch-up has run)."""
    hub.open_room(room)
    assert await wait_for(lambda: hub.since(room, None) is not None, timeout=3)


async def all_show(processes: list[tuple[Hub, PresenceRecorder]], room: str) -> None:
    for hub, _ in processes:
        await subscribed(hub, room)


async def ana_in_the_lobby_of_one(processes: list[tuple[Hub, PresenceRecorder]]) -> None:
    """Both show the lobby, Ana has it open on the first, and the second knows."""
    (one, _), (_, seen_two) = processes
    await all_show(processes, "lobby")
    one.presence.join("lobby", "a1", "Ana")
    assert await wait_for(lambda: seen_two.people.get("lobby") == {"a1": "Ana"}, timeout=2)


async def test_each_process_sees_the_other_s_people_and_its_own(processes: list[tuple[Hub, PresenceRecorder]]) -> None:
    (one, seen_one), (two, seen_two) = processes
    await all_show(processes, "lobby")
    one.presence.join("lobby", "a1", "Ana")
    assert seen_one.people["lobby"] == {"a1": "Ana"}  # at once here
    two.presence.join("lobby", "b1", "Bo")
    assert await wait_for(lambda: seen_one.people.get("lobby") == {"a1": "Ana", "b1": "Bo"}, timeout=2)
    assert await wait_for(lambda: seen_two.people.get("lobby") == {"a1": "Ana", "b1": "Bo"}, timeout=2)
    one.presence.leave("lobby", "a1")
    assert await wait_for(lambda: seen_two.people.get("lobby") == {"b1": "Bo"}, timeout=2)


async def test_a_process_that_opens_a_room_knows_at_once_who_is_there(
    processes: list[tuple[Hub, PresenceRecorder]],
) -> None:
    (one, _), (two, seen_two) = processes
    one.presence.join("kitchen", "a1", "Ana")  # one does not even hear the kitchen: its hash says so anyway
    assert await wait_for(lambda: two.presence.people("nowhere") == {} and seen_two.told == 0, timeout=1)
    await asyncio.sleep(0.1)  # the hash is written
    assert await two.presence.read("kitchen", heard_here=False) == [("a1", "Ana")]  # the API's, without showing it
    await subscribed(two, "kitchen")
    assert seen_two.people["kitchen"] == {"a1": "Ana"}  # read from the hash on subscribe, before any heartbeat


async def test_a_process_that_stops_heart_beating_drops_off_within_the_expiry(
    processes: list[tuple[Hub, PresenceRecorder]],
) -> None:
    (one, _), (two, seen_two) = processes
    await ana_in_the_lobby_of_one(processes)
    await asyncio.sleep(FAST.expiry * 1.5)
    assert seen_two.people["lobby"] == {"a1": "Ana"}  # kept by the heartbeat past the expiry
    await one.stop()  # dies: no goodbye
    loop = asyncio.get_running_loop()
    died = loop.time()
    assert await wait_for(lambda: seen_two.people.get("lobby") == {}, timeout=FAST.expiry + 1)
    assert loop.time() - died <= FAST.expiry + 0.5
    assert await two.presence.read("lobby", heard_here=True) == []
    assert await two.presence.read("lobby", heard_here=False) == []  # the hash lets it go too


async def test_a_clean_stop_takes_the_process_s_people_off_at_once(
    processes: list[tuple[Hub, PresenceRecorder]],
) -> None:
    (one, _), (_, seen_two) = processes
    await ana_in_the_lobby_of_one(processes)
    await one.flush(within=1)
    assert await wait_for(lambda: seen_two.people.get("lobby") == {}, timeout=FAST.expiry / 2)


async def test_typing_reaches_the_other_process_and_the_author_s_message_clears_it(
    processes: list[tuple[Hub, PresenceRecorder]],
) -> None:
    (one, seen_one), (two, seen_two) = processes
    await all_show(processes, "lobby")
    assert one.presence.typing("lobby", "a1", "Ana") is True
    assert one.presence.typing("lobby", "a1", "Ana") is False  # thrown away by the throttle
    assert seen_one.typists["lobby"] == ["Ana"]
    assert await wait_for(lambda: seen_two.typists.get("lobby") == ["Ana"], timeout=2)
    message = Message(
        room="lobby", key="2026-11-29T18:00:00.000Z#00000000000000aa", author="Ana", author_id="a1", text="hi"
    )
    two.deliver("lobby", [message])
    assert seen_two.typists["lobby"] == []


async def test_typists_go_by_themselves(
    processes: list[tuple[Hub, PresenceRecorder]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from chat import presence_feed

    monkeypatch.setattr(presence_feed, "TYPING_SECONDS", 0.5)
    (one, seen_one), _ = processes
    one.presence.typing("lobby", "a1", "Ana")
    assert seen_one.typists["lobby"] == ["Ana"]
    assert await wait_for(lambda: seen_one.typists["lobby"] == [], timeout=1.5)


async def test_a_burst_of_tabs_is_one_presence_event(memory_db: Dynamo, tables: TableNames) -> None:
    bus = RecordingBus()
    timing = PresenceTiming(heartbeat=3600, expiry=30, publish_interval=0.3)
    hub = Hub(store=MessageStore(db=memory_db, tables=tables), bus=bus, presence_timing=timing)  # type: ignore[arg-type]
    await hub.start(catch_up_interval=3600)
    try:
        for i in range(100):
            hub.presence.join("lobby", f"a{i}", f"P{i}")
        await asyncio.sleep(0.05)
        for i in range(50):
            hub.presence.leave("lobby", f"a{i}")
        await asyncio.sleep(0.5)
        sent = [event for room, event in bus.published if event["type"] == "presence"]
        assert len(sent) == 2  # the first change at once, everything after it in one event an interval later
        assert len(sent[-1]["people"]) == 50
        assert len(bus.presence_hash["lobby"][hub.presence.origin]["people"]) == 50  # and the hash holds it
    finally:
        await hub.stop()


async def test_presence_events_from_redis_that_are_malformed_are_ignored(
    processes: list[tuple[Hub, PresenceRecorder]], caplog: pytest.LogCaptureFixture
) -> None:
    (one, seen_one), _ = processes
    await subscribed(one, "lobby")
    with caplog.at_level(logging.WARNING):
        for bad in (
            {"type": "presence", "op": "set", "origin": "x", "people": "everyone"},
            {"type": "presence", "op": "set", "origin": "x", "people": [["a1"]]},
            {"type": "presence", "op": "set", "origin": "x", "people": [[1, "Ana"]]},
            {"type": "typing", "op": "start", "origin": "x", "author_id": "a1", "name": ""},
            {"type": "typing", "op": "start", "origin": "x"},
        ):
            one.on_event("lobby", bad)
    assert seen_one.people.get("lobby", {}) == {}
    assert seen_one.typists.get("lobby", []) == []
    assert len([r for r in caplog.records if "malformed" in r.message]) == 5


async def test_a_forged_presence_hash_entry_is_dropped(
    processes: list[tuple[Hub, PresenceRecorder]], server: FakeServer
) -> None:
    (one, seen_one), _ = processes
    forged = events.encode(events.presence([("x1", "Mallory")], origin="evil"))
    redis = FakeAsyncRedis(server=server)
    await redis.hset(presence_key("lobby"), "evil", forged)
    await subscribed(one, "lobby")
    assert seen_one.people.get("lobby", {}) == {}
    assert await redis.hexists(presence_key("lobby"), "evil") == 0


def test_a_room_s_presence_hash_sits_on_the_shard_of_the_room_s_channel() -> None:
    for room in ("lobby", "game night", "ünïcode room", "a{b}c", "a{b", "{x}{y}"):
        for namespace in ("", "prod_"):
            channel = channel_name(room, namespace)
            assert key_slot(presence_key(room, namespace).encode()) == key_slot(channel.encode()), (room, namespace)
