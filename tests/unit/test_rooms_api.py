"""The rooms in the JSON API over ASGI, on moto and fakeredis: the list, making rooms, a room's messages, the schema."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from chat.models import Draft, new_nonce
from chat.service import UNREAD_CAP, ChatService
from tests.conftest import api_app

NO_ROOM = {"detail": "There is no room with that name. Create it with New room."}
LOBBY = {"id": "lobby", "name": "Lobby", "path": "/"}


@pytest.fixture
async def client(memory_service: ChatService) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(api_app(memory_service))
    async with httpx.AsyncClient(transport=transport, base_url="http://chat.test") as client:
        yield client


async def join(client: httpx.AsyncClient, name: str) -> dict[str, str]:
    """Register ``name``; the Authorization header of its session."""
    response = await client.post("/api/sessions", json={"name": name})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


async def make(client: httpx.AsyncClient, auth: dict[str, str], name: str) -> dict[str, str]:
    response = await client.post("/api/rooms", json={"name": name}, headers=auth)
    assert response.status_code == 201, response.text
    room: dict[str, str] = response.json()
    return room


# -- the list -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer "}, {"Authorization": "Bearer not-a-session"}, {"Authorization": "Basic x"}],
)
async def test_the_room_list_needs_a_live_session(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    response = await client.get("/api/rooms", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert isinstance(response.json()["detail"], str)


async def test_the_room_list_is_the_lobby_first_then_every_room_by_name(client: httpx.AsyncClient) -> None:
    auth = await join(client, "Ann")
    assert (await client.get("/api/rooms", headers=auth)).json() == {"rooms": [LOBBY], "unread": {}}
    for name in ("zebra", "Game night", "Apple"):
        await make(client, auth, name)
    listed = (await client.get("/api/rooms", headers=auth)).json()["rooms"]
    assert listed == [
        LOBBY,
        {"id": "apple", "name": "Apple", "path": "/r/apple"},
        {"id": "game night", "name": "Game night", "path": "/r/game%20night"},
        {"id": "zebra", "name": "zebra", "path": "/r/zebra"},
    ]


async def test_the_room_list_counts_what_others_posted_since_joining(client: httpx.AsyncClient) -> None:
    ann = await join(client, "Ann")
    room = await make(client, ann, "Game night")
    await client.post("/api/rooms/game%20night/messages", json={"text": "before Bob came"}, headers=ann)
    bob = await join(client, "Bob")
    assert (await client.get("/api/rooms", headers=bob)).json()["unread"] == {}
    for i in range(3):
        await client.post("/api/rooms/game%20night/messages", json={"text": f"after {i}"}, headers=ann)
    await client.post("/api/messages", json={"text": "in the lobby"}, headers=ann)
    assert (await client.get("/api/rooms", headers=bob)).json()["unread"] == {room["id"]: 3, "lobby": 1}
    assert (await client.get("/api/rooms", headers=ann)).json()["unread"] == {}  # her own posts are read
    await client.post("/api/rooms/game%20night/messages", json={"text": "read up"}, headers=bob)
    assert (await client.get("/api/rooms", headers=bob)).json()["unread"] == {"lobby": 1}


async def test_an_unread_count_stops_at_the_cap(client: httpx.AsyncClient, memory_service: ChatService) -> None:
    bob = await join(client, "Bob")
    for i in range(UNREAD_CAP + 1):  # stored by other processes, past any one sender's rate limit
        draft = Draft(room="lobby", author="Ann", author_id="id-ann", text=f"m{i}", nonce=new_nonce())
        await memory_service.messages.put(draft)
    assert (await client.get("/api/rooms", headers=bob)).json()["unread"] == {"lobby": UNREAD_CAP}


# -- making rooms -------------------------------------------------------------------------------------------


async def test_making_a_room_is_201_and_asking_again_in_any_case_is_200_with_the_same_room(
    client: httpx.AsyncClient,
) -> None:
    ann = await join(client, "Ann")
    made = await client.post("/api/rooms", json={"name": " Game night "}, headers=ann)
    assert (made.status_code, made.json()) == (
        201,
        {"id": "game night", "name": "Game night", "path": "/r/game%20night"},
    )
    bob = await join(client, "Bob")
    for name in ("Game night", "GAME NIGHT", "ｇａｍｅ ｎｉｇｈｔ"):
        again = await client.post("/api/rooms", json={"name": name}, headers=bob)
        assert (again.status_code, again.json()) == (200, made.json()), name
    lobby = await client.post("/api/rooms", json={"name": "LOBBY"}, headers=bob)
    assert (lobby.status_code, lobby.json()) == (200, LOBBY)


@pytest.mark.parametrize("lookalike", ["Garne night", "G\u0430me night"])  # "rn" for "m", a Cyrillic a
async def test_a_look_alike_name_is_409_naming_the_room(client: httpx.AsyncClient, lookalike: str) -> None:
    ann = await join(client, "Ann")
    await make(client, ann, "Game night")
    response = await client.post("/api/rooms", json={"name": lookalike}, headers=ann)
    assert (response.status_code, response.json()) == (
        409,
        {"detail": "That name is too similar to the room 'Game night'. Pick another one."},
    )
    assert len((await client.get("/api/rooms", headers=ann)).json()["rooms"]) == 2


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"name": ""}, "A room name needs at least 1 character."),
        ({"name": "x" * 41}, "A room name can have at most 40 characters."),
        ({"name": "a/b"}, "A room name can only have letters, digits, spaces and _ - . (not '/')."),
        ({"name": "x" * 1001}, "name: String should have at most 1000 characters"),
        ({}, "name: Field required"),
        ({"name": "ok", "private": True}, "private: is not a field of this request"),
    ],
)
async def test_a_bad_room_name_is_422_saying_why(
    client: httpx.AsyncClient, body: dict[str, object], detail: str
) -> None:
    ann = await join(client, "Ann")
    response = await client.post("/api/rooms", json=body, headers=ann)
    assert (response.status_code, response.json()) == (422, {"detail": detail})
    assert (await client.get("/api/rooms", headers=ann)).json()["rooms"] == [LOBBY]


async def test_making_a_room_needs_a_live_session(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/rooms", json={"name": "Ghost town"})
    assert response.status_code == 401
    ann = await join(client, "Ann")
    assert (await client.get("/api/rooms", headers=ann)).json()["rooms"] == [LOBBY]


# -- a room's messages --------------------------------------------------------------------------------------


async def test_an_unknown_room_is_404_and_nothing_is_stored(client: httpx.AsyncClient) -> None:
    ann = await join(client, "Ann")
    for path in ("/api/rooms/nowhere/messages", "/api/rooms/Game%20Night/messages"):  # an id, not a name
        posted = await client.post(path, json={"text": "anyone?"}, headers=ann)
        assert (posted.status_code, posted.json()) == (404, NO_ROOM), path
        read = await client.get(path, headers=ann)
        assert (read.status_code, read.json()) == (404, NO_ROOM), path
    assert (await client.get("/api/messages", headers=ann)).json()["messages"] == []


async def test_whether_a_room_exists_is_told_only_to_a_live_session(client: httpx.AsyncClient) -> None:
    ann = await join(client, "Ann")
    await make(client, ann, "Secret")
    for path in ("/api/rooms/secret/messages", "/api/rooms/nowhere/messages"):
        assert (await client.get(path)).status_code == 401
        assert (await client.post(path, json={"text": "x"})).status_code == 401


async def test_a_room_s_messages_are_its_own_at_its_percent_encoded_id(client: httpx.AsyncClient) -> None:
    ann = await join(client, "Ann")
    await make(client, ann, "Game night")
    await make(client, ann, "Café")
    posted = await client.post("/api/rooms/game%20night/messages", json={"text": "dice at 8"}, headers=ann)
    assert posted.status_code == 201
    assert posted.json()["room"] == "game night"
    cafe = await client.post("/api/rooms/caf%C3%A9/messages", json={"text": "espresso"}, headers=ann)
    assert (cafe.status_code, cafe.json()["room"]) == (201, "café")
    page = (await client.get("/api/rooms/game%20night/messages", headers=ann)).json()
    assert page == {"messages": [posted.json()], "next_before": None}
    assert [m["text"] for m in (await client.get("/api/rooms/café/messages", headers=ann)).json()["messages"]] == [
        "espresso"
    ]
    assert (await client.get("/api/messages", headers=ann)).json()["messages"] == []


async def test_the_lobby_is_reachable_both_ways(client: httpx.AsyncClient) -> None:
    ann = await join(client, "Ann")
    first = (await client.post("/api/messages", json={"text": "one"}, headers=ann)).json()
    second = (await client.post("/api/rooms/lobby/messages", json={"text": "two"}, headers=ann)).json()
    assert first["room"] == second["room"] == "lobby"
    short = (await client.get("/api/messages", headers=ann)).json()
    assert short == (await client.get("/api/rooms/lobby/messages", headers=ann)).json()
    assert [m["text"] for m in short["messages"]] == ["one", "two"]


async def test_a_room_s_history_pages_like_the_lobby_s(client: httpx.AsyncClient) -> None:
    ann = await join(client, "Ann")
    await make(client, ann, "B")
    sent = [
        (await client.post("/api/rooms/b/messages", json={"text": f"m{i}"}, headers=ann)).json()["key"]
        for i in range(5)
    ]
    newest = (await client.get("/api/rooms/b/messages", params={"limit": 3}, headers=ann)).json()
    assert [m["key"] for m in newest["messages"]] == sent[2:]
    older = await client.get("/api/rooms/b/messages", params={"limit": 3, "before": newest["next_before"]}, headers=ann)
    assert [m["key"] for m in older.json()["messages"]] == sent[:2]
    assert older.json()["next_before"] is None
    bad = await client.get("/api/rooms/b/messages", params={"before": "not-a-key"}, headers=ann)
    assert (bad.status_code, bad.json()) == (422, {"detail": "That cursor is not valid."})


async def test_a_retry_in_a_room_with_the_same_nonce_is_stored_once(client: httpx.AsyncClient) -> None:
    ann = await join(client, "Ann")
    await make(client, ann, "B")
    body = {"text": "once", "nonce": "ann-room-0001"}
    first = await client.post("/api/rooms/b/messages", json=body, headers=ann)
    again = await client.post("/api/rooms/b/messages", json=body, headers=ann)
    assert (first.status_code, again.status_code, again.json()) == (201, 201, first.json())
    assert len((await client.get("/api/rooms/b/messages", headers=ann)).json()["messages"]) == 1


# -- the schema ---------------------------------------------------------------------------------------------


async def test_the_openapi_document_describes_the_rooms_and_their_errors(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    paths = schema["paths"]
    error = {"$ref": "#/components/schemas/ErrorOut"}

    def answers(path: str, method: str) -> dict[str, object]:
        return {
            status: answer.get("content", {}).get("application/json", {}).get("schema")
            for status, answer in paths[path][method]["responses"].items()
        }

    rooms_list = answers("/api/rooms", "get")
    assert rooms_list["200"] == {"$ref": "#/components/schemas/RoomsOut"}
    assert rooms_list["401"] == error
    made = answers("/api/rooms", "post")
    assert made["201"] == made["200"] == {"$ref": "#/components/schemas/RoomOut"}
    assert made["409"] == made["422"] == made["401"] == error
    assert "404" not in made  # making a room never answers that there is no such room
    for method in ("get", "post"):
        in_room = answers("/api/rooms/{room}/messages", method)
        assert in_room["404"] == in_room["401"] == in_room["422"] == error, method
        assert paths["/api/rooms/{room}/messages"][method]["security"] == [{"HTTPBearer": []}]
        [parameter] = [p for p in paths["/api/rooms/{room}/messages"][method]["parameters"] if p["in"] == "path"]
        assert (parameter["name"], parameter["required"], parameter["schema"]["maxLength"]) == ("room", True, 200)
    assert {"400", "413", "415"} <= set(answers("/api/rooms/{room}/messages", "post"))
    assert "404" not in answers("/api/messages", "post")  # the lobby is always there
    assert set(schema["components"]["schemas"]["RoomOut"]["required"]) == {"id", "name", "path"}
    assert set(schema["components"]["schemas"]["RoomsOut"]["properties"]) == {"rooms", "unread"}
