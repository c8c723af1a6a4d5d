"""The presence routes of the JSON API: who has a room open, and saying that one types."""

from __future__ import annotations

import httpx

from chat.presence_feed import Typist
from chat.service import ChatService
from tests.recording import show
from tests.unit.test_api import client, join  # noqa: F401 (the API on moto and fakeredis, and joining it)


class TypingRecorder:
    def __init__(self) -> None:
        self.typists: list[list[str]] = []

    def on_presence(self, room: str, people: dict[str, str]) -> None:
        pass

    def on_typing(self, room: str, typists: list[Typist]) -> None:
        self.typists.append([name for _, name, _ in typists])


async def test_presence_lists_the_people_who_have_the_room_open(
    client: httpx.AsyncClient,  # noqa: F811
    memory_service: ChatService,
) -> None:
    auth = await join(client, "Cy")
    await show(memory_service.hub, "lobby")  # as a tab of this process does
    memory_service.hub.presence.join("lobby", "b1", "Bo")
    memory_service.hub.presence.join("lobby", "a1", "Ana")
    memory_service.hub.presence.join("lobby", "a1", "Ana")  # a second tab
    response = await client.get("/api/rooms/lobby/presence", headers=auth)
    assert response.status_code == 200
    assert response.json() == {
        "room": "lobby",
        "people": [{"author_id": "a1", "name": "Ana"}, {"author_id": "b1", "name": "Bo"}],
    }


async def test_presence_needs_a_session_and_a_room(client: httpx.AsyncClient) -> None:  # noqa: F811
    assert (await client.get("/api/rooms/lobby/presence")).status_code == 401
    auth = await join(client, "Cy")
    missing = await client.get("/api/rooms/nowhere/presence", headers=auth)
    assert missing.status_code == 404
    assert missing.json() == {"detail": "There is no room with that name. Create it with New room."}


async def test_typing_is_204_shown_to_the_room_and_throttled(
    client: httpx.AsyncClient,  # noqa: F811
    memory_service: ChatService,
) -> None:
    recorder = TypingRecorder()
    memory_service.hub.presence.attach(recorder)
    auth = await join(client, "Dee")
    assert (await client.post("/api/rooms/lobby/typing")).status_code == 401
    assert (await client.post("/api/rooms/nowhere/typing", headers=auth)).status_code == 404
    for _ in range(5):
        response = await client.post("/api/rooms/lobby/typing", headers=auth)
        assert response.status_code == 204
    assert recorder.typists == [["Dee"]]  # one typing event let through, the rest dropped
    assert [name for _, name, _ in memory_service.hub.presence.typists("lobby")] == ["Dee"]
