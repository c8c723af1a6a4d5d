"""Rooms through ChatService on moto and fakeredis: making rooms, posting and reading per room, unread counts."""

from __future__ import annotations

import itertools

import pytest
from fakeredis import FakeAsyncRedis, FakeServer

from chat.bus import Bus
from chat.errors import InvalidInput, NotFound, NotLoggedIn, RoomLookAlike
from chat.models import Draft, Session, new_nonce
from chat.rooms import InvalidRoomName, Room
from chat.service import UNREAD_CAP, ChatService
from chat.storage import Dynamo, TableNames
from tests.conftest import BUS_KEY, make_service
from tests.dynamo_calls import watched
from tests.helpers import wait_for
from tests.recording import RecordingSink, show

LOBBY = Room(id="lobby", name="Lobby")
_POSTERS = itertools.count()


async def others_post(service: ChatService, room: str, count: int) -> list[str]:
    """``count`` (at most a sender's burst) messages posted to ``room`` by someone new; their keys."""
    poster = await service.register(f"Poster {next(_POSTERS)}")
    return [(await service.send(poster, f"m{i}", room=room)).key for i in range(count)]


async def stored_elsewhere(service: ChatService, room: str, count: int) -> None:
    """``count`` messages by someone else stored in ``room`` without a word on the bus (another process's)."""
    for i in range(count):
        await service.messages.put(Draft(room=room, author="Bob", author_id="id-bob", text=f"m{i}", nonce=new_nonce()))


async def made(service: ChatService, session: Session, name: str) -> Room:
    room, created = await service.create_room(session, name)
    assert created
    return room


# -- making rooms -------------------------------------------------------------------------------------------


async def test_a_new_room_is_made_listed_and_announced_once(memory_service: ChatService) -> None:
    sink = RecordingSink()
    memory_service.hub.attach(sink)
    ann = await memory_service.register("Ann")
    room, created = await memory_service.create_room(ann, "  Game night ")
    assert (room, created) == (Room(id="game night", name="Game night"), True)
    assert await memory_service.room("game night") == room
    assert await memory_service.rooms() == [LOBBY, room]
    assert sink.rooms == [room]  # this process's views at once; the others through the activity channel
    again, created = await memory_service.create_room(ann, "Game night")
    assert (again, created) == (room, False)
    assert sink.rooms == [room]  # a room that was there already is not news


@pytest.mark.parametrize("other_case", ["GAME NIGHT", "game night", "Ｇａｍｅ ｎｉｇｈｔ"])
async def test_the_same_name_in_another_case_or_width_is_the_same_room(
    memory_service: ChatService, other_case: str
) -> None:
    ann = await memory_service.register("Ann")
    first = await made(memory_service, ann, "Game night")
    bob = await memory_service.register("Bob")
    assert await memory_service.create_room(bob, other_case) == (first, False)
    assert first.name == "Game night"  # the name as its creator typed it
    assert await memory_service.rooms() == [LOBBY, first]


# "rn" drawn as "m", a Cyrillic a, a Cyrillic i
@pytest.mark.parametrize("lookalike", ["Garne night", "G\u0430me night", "Game n\u0456ght"])
async def test_a_look_alike_of_another_room_is_refused_naming_that_room(
    memory_service: ChatService, lookalike: str
) -> None:
    ann = await memory_service.register("Ann")
    await made(memory_service, ann, "Game night")
    with pytest.raises(RoomLookAlike) as refused:
        await memory_service.create_room(ann, lookalike)
    assert refused.value.message == "That name is too similar to the room 'Game night'. Pick another one."
    assert [r.name for r in await memory_service.rooms()] == ["Lobby", "Game night"]


@pytest.mark.parametrize(
    ("name", "detail"),
    [
        ("", "A room name needs at least 1 character."),
        ("   ", "A room name needs at least 1 character."),
        ("x" * 41, "A room name can have at most 40 characters."),
        ("a/b", "(not '/')"),
        ("gen\u202eeral", "(not U+202E)"),
    ],
)
async def test_a_bad_room_name_is_refused_with_a_readable_message_and_nothing_made(
    memory_service: ChatService, name: str, detail: str
) -> None:
    ann = await memory_service.register("Ann")
    with pytest.raises(InvalidRoomName) as refused:
        await memory_service.create_room(ann, name)
    assert isinstance(refused.value, InvalidInput)  # 422 in the API
    assert detail in refused.value.message
    assert len(refused.value.message) < 120
    assert await memory_service.rooms() == [LOBBY]


@pytest.mark.parametrize("name", ["Lobby", "LOBBY", "lobby"])
async def test_the_lobby_s_name_is_the_lobby(memory_service: ChatService, name: str) -> None:
    ann = await memory_service.register("Ann")
    assert await memory_service.create_room(ann, name) == (memory_service.lobby, False)
    assert await memory_service.rooms() == [LOBBY]


async def test_a_look_alike_of_the_lobby_is_refused_once_the_lobby_is_recorded(memory_service: ChatService) -> None:
    await memory_service.directory.ensure_lobby()  # what the runtime does at start
    await memory_service.directory.ensure_lobby()  # and every process does again
    ann = await memory_service.register("Ann")
    with pytest.raises(RoomLookAlike, match="the room 'Lobby'"):
        await memory_service.create_room(ann, "L0bby")
    assert await memory_service.rooms() == [LOBBY]


async def test_only_a_live_session_makes_a_room(memory_service: ChatService) -> None:
    ann = await memory_service.register("Ann")
    await memory_service.logout(ann)
    with pytest.raises(NotLoggedIn):
        await memory_service.create_room(ann, "Ghost town")
    with pytest.raises(NotFound):
        await memory_service.room("ghost town")


async def test_rooms_are_listed_lobby_first_then_by_name(memory_service: ChatService) -> None:
    ann = await memory_service.register("Ann")
    for name in ("zebra", "Apple", "mango"):
        await made(memory_service, ann, name)
    assert [r.name for r in await memory_service.rooms()] == ["Lobby", "Apple", "mango", "zebra"]


# -- posting and reading per room ---------------------------------------------------------------------------


async def test_posting_to_a_room_that_does_not_exist_is_not_found_and_stores_nothing(
    memory_service: ChatService,
) -> None:
    ann = await memory_service.register("Ann")
    with pytest.raises(NotFound, match="There is no room with that name"):
        await memory_service.send(ann, "hello?", room="nowhere")
    assert (await memory_service.messages.page("nowhere", limit=10)).messages == []
    with pytest.raises(NotFound):
        await memory_service.history("nowhere")
    with pytest.raises(NotFound):
        await memory_service.room("nowhere")


async def test_a_message_of_one_room_never_shows_in_another(memory_service: ChatService) -> None:
    sink = RecordingSink()
    memory_service.hub.attach(sink)
    ann = await memory_service.register("Ann")
    a = await made(memory_service, ann, "A")
    b = await made(memory_service, ann, "B")
    await show(memory_service.hub, a.id)
    await show(memory_service.hub, b.id)
    in_a = await memory_service.send(ann, "only in A", room=a.id)
    in_lobby = await memory_service.send(ann, "only in the lobby")
    assert in_a.room == "a"
    assert in_lobby.room == "lobby"
    assert (await memory_service.history(b.id)).messages == []
    assert (await memory_service.history(a.id)).messages == [in_a]
    assert (await memory_service.history("lobby")).messages == [in_lobby]
    assert await memory_service.since(b.id, None) == []  # from memory: b is shown here
    assert await memory_service.since(a.id, None) == [in_a]
    assert await memory_service.since("lobby", None) == [in_lobby]  # from DynamoDB: the lobby is not shown here
    assert (sink.of(a.id), sink.of(b.id), sink.of("lobby")) == ([in_a], [], [])


# -- unread counts ------------------------------------------------------------------------------------------


async def test_messages_by_others_after_joining_count_and_those_before_do_not(memory_service: ChatService) -> None:
    ann = await memory_service.register("Ann")
    room = await made(memory_service, ann, "B")
    await others_post(memory_service, room.id, 3)  # before Cid joined
    cid = await memory_service.register("Cid")
    rooms = await memory_service.rooms()
    assert await memory_service.unread(cid, rooms) == {}  # at once: nothing new since joining
    await others_post(memory_service, room.id, 2)
    assert await memory_service.unread(cid, rooms) == {room.id: 2}
    await memory_service.reads.flush()  # once the joining marker is written, the same
    assert await memory_service.unread(cid, rooms) == {room.id: 2}


async def test_an_unread_count_stops_at_the_cap(memory_service: ChatService) -> None:
    cid = await memory_service.register("Cid")
    room = await made(memory_service, cid, "Busy")
    await stored_elsewhere(memory_service, room.id, UNREAD_CAP + 5)  # read from DynamoDB: nothing was announced
    assert await memory_service.unread(cid, await memory_service.rooms()) == {room.id: UNREAD_CAP}


async def test_mark_read_clears_a_room_up_to_the_key_read(memory_service: ChatService) -> None:
    cid = await memory_service.register("Cid")
    room = await made(memory_service, cid, "B")
    keys = await others_post(memory_service, room.id, 4)
    rooms = await memory_service.rooms()
    memory_service.mark_read(cid, room.id, keys[1])
    assert await memory_service.unread(cid, rooms) == {room.id: 2}
    memory_service.mark_read(cid, room.id, keys[-1])
    assert await memory_service.unread(cid, rooms) == {}
    memory_service.mark_read(cid, room.id, keys[0])  # an older key never moves the marker back
    await memory_service.reads.flush()
    assert await memory_service.unread(cid, rooms) == {}
    other = await memory_service.register("Dee")  # and markers are the reader's own
    await others_post(memory_service, room.id, 1)
    assert await memory_service.unread(other, rooms) == {room.id: 1}


async def test_one_s_own_post_marks_the_room_read(memory_service: ChatService) -> None:
    cid = await memory_service.register("Cid")
    room = await made(memory_service, cid, "B")
    await others_post(memory_service, room.id, 3)
    rooms = await memory_service.rooms()
    assert await memory_service.unread(cid, rooms) == {room.id: 3}
    await memory_service.send(cid, "caught up", room=room.id)
    assert await memory_service.unread(cid, rooms) == {}
    await memory_service.reads.flush()
    assert await memory_service.unread(cid, rooms) == {}


async def test_rooms_with_nothing_new_cost_no_count_query(memory_service: ChatService, memory_db: Dynamo) -> None:
    cid = await memory_service.register("Cid")
    empty = await made(memory_service, cid, "Empty")
    old = await made(memory_service, cid, "Old")
    busy = await made(memory_service, cid, "Busy")
    read = await others_post(memory_service, old.id, 2)
    memory_service.mark_read(cid, old.id, read[-1])
    await others_post(memory_service, busy.id, 2)
    rooms = await memory_service.rooms()
    for _ in range(2):
        with watched(memory_db) as calls:
            assert await memory_service.unread(cid, rooms) == {busy.id: 2}
        assert calls.count_queries() == [busy.id]
    # the newest key of a room with messages is known here (announcements and the activity channel keep it
    # current), so the second time no room with messages was asked for it either
    asked_newest = [
        c.params["ExpressionAttributeValues"][":room"]["S"]
        for c in calls.of("Query")
        if c.params.get("ScanIndexForward") is False
    ]
    assert not {old.id, busy.id} & set(asked_newest)
    assert empty.id not in calls.count_queries()


async def test_a_post_in_another_process_counts_here_once_its_activity_arrives(
    memory_service: ChatService, memory_db: Dynamo, tables: TableNames, redis_server: FakeServer
) -> None:
    cid = await memory_service.register("Cid")
    room = await made(memory_service, cid, "B")
    rooms = await memory_service.rooms()
    assert await memory_service.unread(cid, rooms) == {}  # the room's newest key is known here from now on
    other = make_service(memory_db, tables, Bus(redis=FakeAsyncRedis(server=redis_server), key=BUS_KEY))
    await other.hub.start(catch_up_interval=3600)
    try:
        dee = await other.register("Dee")
        sent = await other.send(dee, "from another process", room=room.id)
        assert await wait_for(lambda: memory_service.hub.newest(room.id) == sent.key, timeout=3)
        assert await memory_service.unread(cid, rooms) == {room.id: 1}
    finally:
        await other.hub.stop()
