"""How much a chat view holds on the server for its tab, whatever the tab asks for."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from nicegui.observables import ObservableCollection

from chat.settings import Settings
from components.chat_panel import ChatPanel

from .conftest import ChatApp, join
from .test_chat_ui import _assert_equal, eventually, send


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, view_max_messages=10)  # the model this module's tabs hold


async def test_load_more_to_the_start_of_a_long_room_keeps_the_view_model_bounded(
    chat_app: ChatApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = chat_app.service
    writer = await service.register("Writer")
    texts = [f"old {i}" for i in range(40)]
    for text in texts:
        await service.send(writer, text)
    reader = chat_app.new_user()
    await join(reader, "Reader")
    (panel,) = reader.find(ChatPanel).elements
    assert isinstance(panel, ChatPanel)
    limit = panel.limit
    sent: list[str] = [panel.item(k)["text"] for k in panel.keys]  # type: ignore[index]
    real = panel.run_method

    def record(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "prepend":
            sent[:0] = [m["text"] for m in args[0]]
        return real(name, *args, **kwargs)

    monkeypatch.setattr(panel, "run_method", record)
    pages = 0
    while panel.more:  # a client that clicks Load more for as long as it is offered
        assert pages < 20, "Load more never reached the start"
        loaded = len(sent)
        reader.find(marker="messages").trigger("load_more")
        await eventually(lambda: _assert_equal(len(sent) > loaded or not panel.more, True))  # noqa: B023
        pages += 1
        assert len(panel.keys) <= limit  # what the server holds for the tab stays within its limit
    assert sent == texts  # every page once, in order, up to the start
    await send(reader, "new")  # the newest messages are still the ones the model follows
    await eventually(lambda: _assert_equal(panel.item(panel.keys[-1])["text"], "new"))  # type: ignore[index]
    # the browser may trim its list to its newest when news reaches it: Load more reads on from what both hold
    assert panel.load_before == panel.oldest_key


async def test_a_page_does_not_carry_the_rooms_online_list_which_comes_with_its_join(chat_app: ChatApp) -> None:
    """The people present would make every page of a busy room larger: N tabs opening it would cost N squared."""
    for name in ("Alice", "Bob"):
        await join(chat_app.new_user(), name)
    carol = chat_app.new_user()
    await join(carol, "Carol")
    (panel,) = carol.find(ChatPanel).elements
    assert panel.props["online"] == {"all": ()}
    assert panel.props["typing"] == ()


async def test_the_first_join_brings_back_nothing_the_page_carried(chat_app: ChatApp) -> None:
    service = chat_app.service
    writer = await service.register("Writer")
    for i in range(3):
        await service.send(writer, f"before the page {i}")
    reader = chat_app.new_user()
    await join(reader, "Reader")
    (panel,) = reader.find(ChatPanel).elements
    assert isinstance(panel, ChatPanel)
    newest = panel.newest_key
    # the join's overlap reaches back over every message of the page: the browser has them all as they were
    assert panel.after(None) == []
    later = await service.send(writer, "after the page")
    await eventually(lambda: _assert_equal([m["key"] for m in panel.after(newest)], [later.key]))


async def test_the_room_list_and_messages_are_held_as_given_not_as_observable_copies(chat_app: ChatApp) -> None:
    """NiceGUI wraps a list held in props, and every dict in it, in observable copies: per tab, for nothing."""
    await chat_app.service.send(await chat_app.service.register("Writer"), "hello")
    reader = chat_app.new_user()
    await join(reader, "Reader")
    (panel,) = reader.find(ChatPanel).elements
    for prop in ("rooms", "messages"):
        assert isinstance(panel.props[prop], tuple)
        assert not any(isinstance(item, ObservableCollection) for item in panel.props[prop])
