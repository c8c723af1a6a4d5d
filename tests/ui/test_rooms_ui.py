"""Rooms in the UI, with NiceGUI's simulated browsers: addresses, the room list, New room, and messages that stay
in their room."""

from __future__ import annotations

import httpx
from nicegui import core
from nicegui.testing.user import User

from components.chat_panel import ChatPanel

from .conftest import ChatApp, join
from .test_chat_ui import eventually, eventually_async, send, shown


def panel_of(user: User) -> ChatPanel:
    (element,) = user.find(ChatPanel).elements
    assert isinstance(element, ChatPanel)
    return element


async def test_a_room_has_its_own_address_title_and_history(chat_app: ChatApp) -> None:
    service = chat_app.service
    maker = await service.register("Maker")
    room, created = await service.create_room(maker, "Game night")
    assert created
    assert room.path(service.lobby.id) == "/r/game%20night"
    await service.send(maker, "in the room", room=room.id)
    await service.send(maker, "in the lobby")
    user = chat_app.new_user()
    await join(user, "Visitor")
    assert shown(user) == ["in the lobby"]
    await user.open("/r/game%20night")  # signed in by the cookie: straight into the room
    await user.should_see(marker="messages")
    panel = panel_of(user)
    assert panel.props["room"] == {"id": "game night", "name": "Game night", "path": "/r/game%20night"}
    assert [r["name"] for r in panel.props["rooms"]] == ["Lobby", "Game night"]
    assert shown(user) == ["in the room"]
    await user.should_see("Game night")


async def test_signed_out_a_room_asks_to_join_then_shows_that_room(chat_app: ChatApp) -> None:
    service = chat_app.service
    maker = await service.register("Maker")
    await service.create_room(maker, "Quiet corner")
    await service.send(maker, "hello corner", room="quiet corner")
    user = chat_app.new_user()
    await user.open("/r/quiet%20corner")
    user.find(marker="name").type("Visitor")
    user.find(marker="join").click()
    await user.should_see(marker="messages")
    assert shown(user) == ["hello corner"]
    assert panel_of(user).props["room"]["id"] == "quiet corner"


async def test_a_room_that_does_not_exist_says_so_with_a_404(chat_app: ChatApp) -> None:
    transport = httpx.ASGITransport(core.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        page = await http.get("/r/nowhere")
    assert page.status_code == 404  # a link checker or a crawler learns it too
    assert "There is no room with that name." in page.text
    assert "<title>No such room · sinchchat</title>" in page.text
    assert "nicegui-chat_panel" not in page.text


async def test_a_message_sent_in_a_room_shows_only_in_that_room_live(chat_app: ChatApp) -> None:
    service = chat_app.service
    maker = await service.register("Maker")
    await service.create_room(maker, "Side")
    in_lobby, in_side = chat_app.new_user(), chat_app.new_user()
    await join(in_lobby, "Lobbyist")
    await join(in_side, "Sider")
    await in_side.open("/r/side")
    await in_side.should_see(marker="messages")
    await send(in_side, "only for side")
    await service.send(maker, "only for the lobby")
    await eventually(lambda: _equal(shown(in_side), ["only for side"]))
    await eventually(lambda: _equal(shown(in_lobby), ["only for the lobby"]))


async def test_new_room_makes_the_room_or_says_why_not(chat_app: ChatApp) -> None:
    user = chat_app.new_user()
    await join(user, "Maker")
    panel = panel_of(user)
    refusals: list[tuple[str, tuple[object, ...]]] = []
    panel.run_method = lambda name, *args, **_: refusals.append((name, args))  # type: ignore[method-assign,assignment]
    user.find(ChatPanel).trigger("create_room", "Genera\u200bl")
    await eventually(lambda: _equal(len(refusals), 1))
    assert refusals[0][0] == "roomRefused"
    assert "U+200B" in str(refusals[0][1][0])
    user.find(ChatPanel).trigger("create_room", "General")
    await eventually_async(lambda: _rooms_are(chat_app, ["Lobby", "General"]))
    user.find(ChatPanel).trigger("create_room", "Genera1")
    await eventually(lambda: _equal(len(refusals), 2))
    assert refusals[1][1][0] == "That name is too similar to the room 'General'. Pick another one."


def _equal(actual: object, expected: object) -> None:
    assert actual == expected


async def _rooms_are(chat_app: ChatApp, names: list[str]) -> None:
    assert [r.name for r in await chat_app.service.rooms()] == names
