"""Edit, delete and react from the chat view's events, with NiceGUI's simulated browsers: what a real browser sends
changes the stored message and every view's model; what a hand-made client sends instead changes nothing."""

from __future__ import annotations

import secrets
from typing import Any

from nicegui.testing.user import User

from chat.models import REACTIONS, Message
from components.chat_panel import ChatPanel

from .conftest import ChatApp, join
from .test_chat_ui import eventually


def panel_of(user: User) -> ChatPanel:
    (element,) = user.find(ChatPanel).elements
    assert isinstance(element, ChatPanel)
    return element


def held(user: User) -> list[dict[str, Any]]:
    panel = panel_of(user)
    return [panel.item(k) for k in panel.keys]  # type: ignore[misc]


async def stored_by(chat_app: ChatApp, user: User, text: str) -> Message:
    user.find(marker="message").trigger("send", {"text": text, "nonce": secrets.token_urlsafe(16)})

    def check() -> None:
        assert [m["text"] for m in held(user) if m.get("status") is None] == [text]

    await eventually(check)
    (message,) = (await chat_app.service.history("lobby")).messages
    return message


async def test_edit_delete_and_react_events_change_the_message_in_every_view(chat_app: ChatApp) -> None:
    ann, bo = chat_app.new_user(), chat_app.new_user()
    await join(ann, "Ann")
    await join(bo, "Bo")
    message = await stored_by(chat_app, ann, "hello")
    ann.find(marker="message").trigger("edit", {"key": message.key, "text": "hello, edited"})

    def edited() -> None:
        for user in (ann, bo):
            (item,) = held(user)
            assert (item["text"], item["version"]) == ("hello, edited", 1)

    await eventually(edited)
    # a returning tab's join: with nothing newer than its newest key, what changed after its newest change
    (item,) = held(bo)
    assert panel_of(bo).after(message.key, None) == [item]  # it holds no change yet: every changed message
    assert panel_of(bo).after(message.key, item["changed_at"]) == []
    assert panel_of(bo).after(message.key, message.key) == [item]  # its newest change is older than the edit
    bo.find(ChatPanel).trigger("react", {"key": message.key, "emoji": REACTIONS[2], "on": True})

    def reacted() -> None:
        (item,) = held(ann)
        assert list(item["reactions"]) == [REACTIONS[2]]

    await eventually(reacted)
    ann.find(ChatPanel).trigger("delete", message.key)

    def deleted() -> None:
        for user in (ann, bo):
            (item,) = held(user)
            assert (item["deleted"], item["text"], item["reactions"], item["version"]) == (True, "", {}, 3)

    await eventually(deleted)
    await bo.should_see("Ann: This message was deleted.")


async def test_hostile_change_events_change_nothing(chat_app: ChatApp) -> None:
    ann, mallory = chat_app.new_user(), chat_app.new_user()
    await join(ann, "Ann")
    await join(mallory, "Mallory")
    message = await stored_by(chat_app, ann, "mine")
    for args in (
        {"key": message.key, "text": 5},
        {"key": "not a key", "text": "x"},
        {"key": message.key},
        "text",
        {"key": message.key, "text": "Mallory's now"},  # well formed, but someone else's message: refused
    ):
        mallory.find(marker="message").trigger("edit", args)
    for key in (5, None, "2026-99-99T00:00:00.000Z#0000000000000000", {"key": message.key}, message.key):
        mallory.find(ChatPanel).trigger("delete", key)
    for args in (
        {"key": message.key, "emoji": "🦄", "on": True},
        {"key": message.key, "emoji": REACTIONS[0], "on": "yes"},
        {"key": message.key, "emoji": [REACTIONS[0]], "on": True},
        {"key": 1, "emoji": REACTIONS[0], "on": True},
        [message.key, REACTIONS[0], True],
    ):
        mallory.find(ChatPanel).trigger("react", args)
    ann.find(marker="message").trigger("edit", {"key": message.key, "text": "   "})  # the author, but empty
    ann.find(ChatPanel).trigger("react", {"key": message.key, "emoji": REACTIONS[0], "on": True})  # a good one

    def reacted() -> None:
        (item,) = held(mallory)
        assert item["reactions"] == {REACTIONS[0]: [message.author_id]}

    await eventually(reacted)
    (stored,) = (await chat_app.service.history("lobby")).messages
    assert (stored.text, stored.deleted, stored.version) == ("mine", False, 1)
