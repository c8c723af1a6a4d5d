"""What a person does in the UI, with NiceGUI's simulated browsers."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable

import pytest
from nicegui.testing.user import User

from chat.errors import StorageUnavailable
from chat.markdown import payload
from chat.models import Draft, Message
from components.chat_panel import START_TEXT, ChatPanel
from components.composer import Composer

from .conftest import ChatApp, join


def shown(user: User) -> list[str]:
    """The texts the user's message list holds, oldest first."""
    (element,) = user.find(ChatPanel).elements
    assert isinstance(element, ChatPanel)
    return [element.item(k)["text"] for k in element.keys]  # type: ignore[index]


async def send(user: User, text: str, *, nonce: str | None = None) -> None:
    """Enter in the composer: the browser reads and clears the box, and sends its text with a fresh nonce."""
    user.find(marker="message").trigger("send", {"text": text, "nonce": nonce or secrets.token_urlsafe(16)})


def composer_of(user: User) -> Composer:
    (element,) = user.find(Composer).elements
    assert isinstance(element, Composer)
    return element


async def eventually(check, timeout: float = 3.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while True:
            try:
                check()
                return
            except AssertionError:
                await asyncio.sleep(0.02)


async def eventually_async(check: Callable[[], Awaitable[None]], timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while True:
            try:
                await check()
                return
            except AssertionError:
                await asyncio.sleep(0.02)


async def test_first_screen_is_the_login_form(chat_app: ChatApp) -> None:
    user = chat_app.new_user()
    await user.open("/")
    await user.should_see("User name")
    await user.should_see("Join")
    await user.should_not_see(marker="messages")


async def test_two_users_see_each_others_messages_live(chat_app: ChatApp) -> None:
    alice, bob = chat_app.new_user(), chat_app.new_user()
    await join(alice, "Alice")
    await join(bob, "Bob")
    await send(alice, "hello Bob")
    await eventually(lambda: _assert_equal(shown(bob), ["hello Bob"]))
    await send(bob, "hi Alice")
    await eventually(lambda: _assert_equal(shown(alice), ["hello Bob", "hi Alice"]))
    await alice.should_see("Bob: hi Alice")
    assert shown(bob) == ["hello Bob", "hi Alice"]


def _assert_equal(a: object, b: object) -> None:
    assert a == b


async def test_enter_joins_and_an_invalid_or_taken_name_is_refused_under_the_input(chat_app: ChatApp) -> None:
    first, second = chat_app.new_user(), chat_app.new_user()
    await first.open("/")
    first.find(marker="name").type("x").trigger("keydown.enter")
    await first.should_see("A name needs at least 2 characters.")
    first.find(marker="name").clear().type("bad<name>").trigger("keydown.enter")
    await first.should_see("A name can only have letters, digits, spaces and _ - . (not '<').")
    first.find(marker="name").clear().type("Alice").trigger("keydown.enter")
    await first.should_see(marker="messages")
    await second.open("/")
    second.find(marker="name").type("ALICE")
    second.find(marker="join").click()
    await second.should_see("The name 'ALICE' is too similar to 'Alice', who is online. Pick another one.")
    await second.should_not_see(marker="messages")


async def test_load_more_brings_older_messages_and_disappears_at_the_end(chat_app: ChatApp) -> None:
    service = chat_app.service
    writer = await service.register("Writer")
    for i in range(12):
        await service.send(writer, f"message {i}")
    reader = chat_app.new_user()
    await join(reader, "Reader")
    assert shown(reader) == [f"message {i}" for i in range(7, 12)]  # the newest page, page size 5
    await reader.should_see("Load more")
    reader.find(marker="messages").trigger("load_more")
    await eventually(lambda: _assert_equal(shown(reader), [f"message {i}" for i in range(2, 12)]))
    await reader.should_see("Load more")
    reader.find(marker="messages").trigger("load_more")
    await eventually(lambda: _assert_equal(shown(reader), [f"message {i}" for i in range(12)]))
    await reader.should_not_see("Load more")
    await reader.should_see(START_TEXT)


async def test_empty_room_shows_no_load_more(chat_app: ChatApp) -> None:
    user = chat_app.new_user()
    await join(user, "Solo")
    await user.should_not_see("Load more")
    await user.should_see(START_TEXT)
    assert shown(user) == []


async def test_over_long_text_is_refused_and_goes_back_to_the_box(
    chat_app: ChatApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = chat_app.new_user()
    await join(user, "Wordy")
    box = composer_of(user)
    calls: list[tuple[str, tuple[object, ...]]] = []
    monkeypatch.setattr(box, "run_method", lambda name, *args, **_: calls.append((name, args)))
    too_long = "x" * 51
    await send(user, too_long)
    # the browser emptied the box when it sent: the server asks it to take the text back and show why
    message = "This message has 51 characters; the limit is 50. Shorten it and send again."
    await eventually(lambda: _assert_equal(calls, [("refuse", (too_long, message))]))
    assert shown(user) == []
    assert (await chat_app.service.history("lobby")).messages == []


async def test_a_malformed_send_event_is_dropped(chat_app: ChatApp) -> None:
    user = chat_app.new_user()
    await join(user, "Forger")
    for args in ({"text": "no nonce"}, {"text": 5, "nonce": "A" * 22}, {"text": "x", "nonce": "short"}, "text"):
        user.find(marker="message").trigger("send", args)
    await send(user, "the real one")
    await eventually(lambda: _assert_equal(shown(user), ["the real one"]))


async def test_whitespace_only_text_does_nothing(chat_app: ChatApp) -> None:
    user = chat_app.new_user()
    await join(user, "Quiet")
    await send(user, "   \n  ")
    await asyncio.sleep(0.1)
    assert shown(user) == []
    assert (await chat_app.service.history("lobby")).messages == []


async def test_logout_frees_the_name_and_returns_to_login(chat_app: ChatApp) -> None:
    alice = chat_app.new_user()
    await join(alice, "Alice")
    await send(alice, "bye")
    await eventually(lambda: _assert_equal(shown(alice), ["bye"]))
    alice.find(marker="messages").trigger("logout")
    await alice.should_see(marker="join")
    await alice.should_not_see(marker="messages")
    other = chat_app.new_user()
    await join(other, "alice")  # the name is free again
    assert shown(other) == ["bye"]  # and the message stays, signed with the name
    (element,) = other.find(ChatPanel).elements
    assert isinstance(element, ChatPanel)
    assert element.item(element.keys[0])["author"] == "Alice"  # type: ignore[index]


async def test_reload_keeps_the_session(chat_app: ChatApp) -> None:
    user = chat_app.new_user()
    await join(user, "Stay")
    await user.open("/")
    await user.should_see(marker="messages")
    await user.should_see("Stay")


@pytest.mark.parametrize("where", ["lobby", "a room"])
async def test_a_send_that_cannot_be_stored_shows_failed_and_retry_stores_it_once(
    chat_app: ChatApp, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    user = chat_app.new_user()
    await join(user, "Patient")
    room = chat_app.service.lobby
    if where == "a room":
        maker = await chat_app.service.register("Maker")
        room, _ = await chat_app.service.create_room(maker, "Waiting room")
        await user.open(room.path(chat_app.service.lobby.id))
        await user.should_see(marker="messages")
    store = chat_app.service.messages
    real_put = store.put

    async def unreachable(draft: Draft) -> Message:
        raise StorageUnavailable("The message store cannot be reached right now.")

    monkeypatch.setattr(store, "put", unreachable)
    await send(user, "keep me")
    (element,) = user.find(ChatPanel).elements
    assert isinstance(element, ChatPanel)
    assert element.props["room"]["id"] == room.id
    await eventually(lambda: _assert_equal([element.item(k)["status"] for k in element.keys], ["failed"]))  # type: ignore[index]
    (key,) = element.keys
    pending = element.item(key)
    assert pending is not None
    assert pending["text"] == "keep me"
    assert "cannot be reached" in pending["error"]
    assert (await chat_app.service.history(room.id)).messages == []

    monkeypatch.setattr(store, "put", real_put)
    user.find(ChatPanel).trigger("retry", key)  # the Retry button lives in the browser: its event, as it sends it
    stored: list[Message] = []

    async def retried() -> None:
        stored[:] = (await chat_app.service.history(room.id)).messages
        assert [(m.text, m.nonce) for m in stored] == [("keep me", pending["nonce"])]  # the same nonce: once

    await eventually_async(retried)
    # the stored message took the place of the failed one, in its room
    await eventually(lambda: _assert_equal(element.keys, [stored[0].key]))
    assert element.item(stored[0].key) == payload(stored[0])
    assert stored[0].room == room.id
