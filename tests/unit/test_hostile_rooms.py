"""Hostile room names and room ids, at the service and through the API: each is refused with a clear message, or
leads nowhere (404), and none makes a room, stores a message or answers 500."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from chat.errors import NotFound
from chat.rooms import ROOM_ID_MAX_LENGTH, InvalidRoomName, Room
from chat.service import ChatService
from chat.storage import Dynamo
from tests.conftest import api_app
from tests.dynamo_calls import watched

MB = 1_000_000
LOBBY = Room(id="lobby", name="Lobby")

# (case, raw name, part of the refusal)
REFUSED_NAMES: list[tuple[str, str, str]] = [
    ("1-mb", "x" * MB, "at most 40 characters"),
    ("10-kb", "a" * 10_000, "at most 40 characters"),
    ("nul", "game\x00night", "(not U+0000)"),
    ("newline", "game\nnight", "(not U+000A)"),
    ("tab", "game\tnight", "(not U+0009)"),
    ("ansi-escape", "\x1b[31mred", "(not U+001B)"),
    ("c1-next-line", "a\x85b", "(not U+0085)"),
    ("del", "a\x7fb", "(not U+007F)"),
    ("rtl-override", "admin\u202egnp.exe", "(not U+202E)"),
    ("rtl-isolate", "\u2067game\u2069", "(not U+2067)"),
    ("rtl-mark", "game\u200f", "(not U+200F)"),
    ("zero-width-space", "gen\u200beral", "(not U+200B)"),
    ("bom", "\ufeffgeneral", "(not U+FEFF)"),
    ("hangul-filler", "gen\u3164eral", "(not U+3164)"),
    ("lone-surrogate", "a\ud800b", "(not U+D800)"),
    ("slash", "a/b", "(not '/')"),
    ("backslash", "a\\b", "(not '\\\\')"),
    ("dot-dot-slash", "../lobby", "(not '/')"),
    ("percent", "a%2Fb", "(not '%')"),
    ("query", "a?b", "(not '?')"),
    ("fragment", "a#b", "(not '#')"),
    ("dots-only", "..", "at least one letter or digit"),
    ("markup", "<img src=x onerror=alert(1)>", "(not '<')"),
    ("only-marks", "\u0336\u0336", "(not U+0336)"),
    ("emoji", "party 🎉", "(not '🎉')"),
    ("many-in-one", "\ufdfa" * 40, "too long"),  # 40 letters, each of which NFKC writes out as 18
]


@pytest.fixture
async def client(memory_service: ChatService) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(api_app(memory_service), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://chat.test") as client:
        yield client


async def test_hostile_room_names_are_refused_with_the_rule_and_make_nothing(
    memory_service: ChatService, subtests: pytest.Subtests
) -> None:
    ann = await memory_service.register("Mallory")
    for case, raw, reason in REFUSED_NAMES:
        with subtests.test(case):
            with pytest.raises(InvalidRoomName) as refused:
                await memory_service.create_room(ann, raw)
            assert reason in refused.value.message
            assert len(refused.value.message) < 200  # the refusal never echoes the input
    assert await memory_service.rooms() == [LOBBY]


# (case, raw name, its id): letters of any script and width make a room; its id is the NFKC case fold
KEPT_NAMES: list[tuple[str, str, str]] = [
    ("hebrew", "שלום", "שלום"),
    ("devanagari-marks", "दिल्ली", "दिल्ली"),
    ("mathematical", "𝔊𝔞𝔪𝔢", "game"),
    ("fullwidth", "Ｄｅｓｋ", "desk"),
    ("sharp-s", "Straße", "strasse"),
    ("padded", "   Garden   ", "garden"),
    ("forty", "a" * 40, "a" * 40),
]


async def test_unusual_but_valid_room_names_make_rooms_reachable_by_id(
    memory_service: ChatService, subtests: pytest.Subtests
) -> None:
    ann = await memory_service.register("Ann")
    for case, raw, expected in KEPT_NAMES:
        with subtests.test(case):
            room, created = await memory_service.create_room(ann, raw)
            assert (room.id, created) == (expected, True)
            assert await memory_service.room(expected) == room
            sent = await memory_service.send(ann, f"hello {case}", room=room.id)
            assert (await memory_service.history(room.id)).messages == [sent]


@pytest.mark.parametrize("room", ["", " ", "..", "lobby\x00", "LOBBY", "x" * 10_000, "\ud800", "../lobby"])
async def test_a_forged_room_id_is_not_found_at_the_service(memory_service: ChatService, room: str) -> None:
    ann = await memory_service.register("Ann")
    with pytest.raises(NotFound):
        await memory_service.send(ann, "hello", room=room)
    with pytest.raises(NotFound):
        await memory_service.history(room)
    assert (await memory_service.history("lobby")).messages == []


async def test_an_id_no_room_can_have_is_not_found_without_asking_dynamodb(
    memory_service: ChatService, memory_db: Dynamo
) -> None:
    with watched(memory_db) as calls, pytest.raises(NotFound):
        # no room has an id this long; past 1,024 bytes DynamoDB would refuse the key (an error, not an answer)
        await memory_service.room("x" * (ROOM_ID_MAX_LENGTH + 1))
    assert calls.calls == []
    with watched(memory_db) as calls, pytest.raises(NotFound):
        await memory_service.room("x" * ROOM_ID_MAX_LENGTH)
    assert [call.operation for call in calls.calls] == ["GetItem"]


# -- the same through the JSON API --------------------------------------------------------------------------


async def join(client: httpx.AsyncClient, name: str = "Mallory") -> dict[str, str]:
    response = await client.post("/api/sessions", json={"name": name})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/rooms/%2E%2E/messages", 404),  # ".." as the id
        ("/api/rooms/%2e%2e%2fsessions/messages", 404),  # "../sessions": a slash never reaches the id
        ("/api/rooms/lobby%2F..%2F..%2Fsessions/messages", 404),
        ("/api/rooms/a%2Fb/messages", 404),
        ("/api/rooms/%00/messages", 404),
        ("/api/rooms/lobby%00/messages", 404),
        ("/api/rooms/lobby%0Aevil/messages", 404),
        ("/api/rooms/%E2%80%AElobby/messages", 404),
        ("/api/rooms/%FF%FE/messages", 404),  # not UTF-8
        ("/api/rooms/%25%32%46/messages", 404),  # "%2F", encoded once more
        ("/api/rooms/LOBBY/messages", 404),  # ids are case folds: the API takes the id, not a name
        ("/api/rooms/" + "x" * 10_000 + "/messages", 422),
        ("/api/rooms/" + "%2F" * 3_000 + "/messages", 404),
    ],
)
async def test_a_forged_room_id_in_the_path_leads_nowhere(client: httpx.AsyncClient, path: str, status: int) -> None:
    auth = await join(client)
    for method in ("GET", "POST"):
        body = {"text": "planted"} if method == "POST" else None
        response = await client.request(method, path, json=body, headers=auth)
        assert response.status_code == status, (method, response.text[:200])
        assert response.headers["content-type"] == "application/json"
        assert len(response.content) < 400  # the answer never echoes a 10 KB id
    assert (await client.get("/api/messages", headers=auth)).json()["messages"] == []
    assert [room["id"] for room in (await client.get("/api/rooms", headers=auth)).json()["rooms"]] == ["lobby"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b'{"name": "x' + b"x" * MB + b'"}', 413),
        (b'{"name": "' + b"a" * 999 + b'"}', 422),
        (b'{"name": "\\ud800ab"}', 422),
        (b'{"name": "game\\u0000night"}', 422),
        (b'{"name": "\\u202egame"}', 422),
        (b'{"name": ["general"]}', 422),
        (b'{"name": null}', 422),
        (b'{"name": "general", "id": "lobby"}', 422),  # a client never chooses the id
    ],
)
async def test_hostile_room_bodies_are_refused_through_the_api(
    client: httpx.AsyncClient, body: bytes, status: int
) -> None:
    auth = await join(client)
    response = await client.post("/api/rooms", content=body, headers={**auth, "Content-Type": "application/json"})
    assert response.status_code == status, response.text[:200]
    assert isinstance(response.json()["detail"], str)
    assert len(response.content) < 400
    assert [room["id"] for room in (await client.get("/api/rooms", headers=auth)).json()["rooms"]] == ["lobby"]
