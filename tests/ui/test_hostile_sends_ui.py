"""What a hand-made client can make a chat view hold: sends and retries it floods are bounded, and a text no browser
can send is not echoed back."""

from __future__ import annotations

import pytest

from chat.errors import StorageUnavailable
from chat.models import Draft, Message
from components.chat_panel import ChatPanel
from components.chat_view import MAX_UNSENT

from .conftest import ChatApp, join
from .test_chat_ui import _assert_equal, composer_of, eventually, send


def statuses(panel: ChatPanel) -> list[str]:
    return [panel.item(k)["status"] for k in panel.keys]  # type: ignore[index]


async def test_a_flood_of_sends_that_cannot_be_stored_is_refused_past_a_few_unsent(
    chat_app: ChatApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = chat_app.new_user()
    await join(user, "Flood")
    puts: list[str] = []

    async def unreachable(draft: Draft) -> Message:
        puts.append(draft.nonce)
        raise StorageUnavailable("The message store cannot be reached right now.")

    monkeypatch.setattr(chat_app.service.messages, "put", unreachable)
    box = composer_of(user)
    refused: list[tuple[object, ...]] = []
    monkeypatch.setattr(box, "run_method", lambda name, *args, **_: refused.append(args))
    for n in range(MAX_UNSENT + 30):
        await send(user, f"spam {n}")
    (panel,) = user.find(ChatPanel).elements
    assert isinstance(panel, ChatPanel)
    await eventually(lambda: _assert_equal(statuses(panel), ["failed"] * MAX_UNSENT))
    assert len(puts) == MAX_UNSENT  # the rest never reached the store, nor the view's memory
    assert len(refused) == 30
    assert refused[0] == (
        f"spam {MAX_UNSENT}",
        f"{MAX_UNSENT} of your messages are not sent yet. Send them again or wait before you write more.",
    )

    # Retry clicked many times over: one post per failed message, not one per click
    key = panel.keys[0]
    for _ in range(10):
        user.find(ChatPanel).trigger("retry", key)
    await eventually(lambda: _assert_equal(len(puts), MAX_UNSENT + 1))
    await eventually(lambda: _assert_equal(statuses(panel), ["failed"] * MAX_UNSENT))
    assert len(puts) == MAX_UNSENT + 1


async def test_a_text_longer_than_the_box_allows_is_dropped_not_echoed(
    chat_app: ChatApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = chat_app.new_user()
    await join(user, "Huge")
    box = composer_of(user)
    calls: list[str] = []
    monkeypatch.setattr(box, "run_method", lambda name, *args, **_: calls.append(name))
    await send(user, "x" * 1_000_000)  # the box stops input at twice the limit: only a hand-made client sends this
    await send(user, "x" * 51)  # over the limit, but what a browser can send: given back with the reason
    await eventually(lambda: _assert_equal(calls, ["refuse"]))
    assert (await chat_app.service.history("lobby")).messages == []
