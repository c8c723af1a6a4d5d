"""A long conversation in a real browser: where the view opens, Load more, and a reader's place while others write."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, expect

from .chat_page import (
    START_LABEL,
    Api,
    at_bottom,
    first_visible_message,
    join,
    load_more,
    scroller,
    settle,
    shown_keys,
    wait_at_bottom,
)
from .conftest import Deployment
from .processes import AppProcess

pytestmark = pytest.mark.e2e

SEEDED = 200
WRITERS = ("Ann", "Ben", "Cat", "Dan")


@pytest.fixture(scope="module")
def app(deployment: Deployment) -> AppProcess:
    (app,) = deployment.start("app")
    return app


@pytest.fixture(scope="module")
def writers(app: AppProcess) -> Iterator[tuple[Api, list[str]]]:
    """The room filled with SEEDED messages from four people, through the JSON API; their tokens stay usable."""
    api = Api(app.base_url)
    tokens = [api.join(name) for name in WRITERS]
    for i in range(SEEDED):
        api.post(tokens[i % len(tokens)], f"Message {i + 1:03d} of the long conversation")
    yield api, tokens
    api.close()


def y_of(page: Page, key: str) -> float:
    box = page.locator(f'.sc-msg[data-key="{key}"]').bounding_box()
    assert box is not None, f"message {key} is not rendered"
    return float(box["y"])


def test_load_more_keeps_the_readers_place_and_reaches_the_first_message(
    app: AppProcess, writers: tuple[Api, list[str]], new_person: Callable[[str], Page]
) -> None:
    api, _ = writers
    stored = [m["key"] for m in api.all_messages()]
    assert len(stored) >= SEEDED

    reader = new_person(app.base_url)
    join(reader, "Reader")
    newest = reader.locator(f'.sc-msg[data-key="{stored[-1]}"]')
    expect(newest).to_be_in_viewport()
    wait_at_bottom(reader)
    expect(load_more(reader)).not_to_be_in_viewport()

    clicks = 0
    while load_more(reader).is_visible():
        assert clicks < 12, "Load more never reached the first message"
        scroller(reader).evaluate("el => { el.scrollTop = 0; }")
        expect(load_more(reader)).to_be_in_viewport()
        anchor = first_visible_message(reader)
        key = str(anchor.get_attribute("data-key"))
        before_y, before_count = y_of(reader, key), reader.locator(".sc-msg").count()

        load_more(reader).click()
        expect(reader.locator(".sc-msg")).not_to_have_count(before_count)
        settle(reader)
        after_y = y_of(reader, key)
        assert abs(after_y - before_y) <= 2, f"click {clicks + 1}: the message read moved, y {before_y} -> {after_y}"
        keys = shown_keys(reader)
        assert keys.index(key) > 0, "older messages were not put above"
        clicks += 1

    expect(reader.get_by_text(START_LABEL)).to_be_visible()
    expect(load_more(reader)).to_have_count(0)
    shown = shown_keys(reader)
    assert len(shown) == len(set(shown)), "a message is shown twice"
    assert shown == stored, "the list differs from the stored conversation (order, gaps or extras)"
    print(f"\n{len(shown)} messages reached with {clicks} Load more clicks")


def test_new_messages_do_not_move_a_reader_who_scrolled_up_and_follow_one_at_the_bottom(
    app: AppProcess, writers: tuple[Api, list[str]], new_person: Callable[[str], Page]
) -> None:
    api, tokens = writers
    reader = new_person(app.base_url)
    join(reader, "Scroller")

    # somewhere in the middle of the first page, well away from the bottom
    scroller(reader).evaluate("el => { el.scrollTop = (el.scrollHeight - el.clientHeight) / 2; }")
    settle(reader)
    assert not at_bottom(reader)
    anchor = first_visible_message(reader)
    key = str(anchor.get_attribute("data-key"))
    before_y, before_top = y_of(reader, key), scroller(reader).evaluate("el => el.scrollTop")

    posted = [api.post(tokens[i % 2], f"Written while the reader looks away, {i + 1}")["key"] for i in range(3)]
    for new_key in posted:
        expect(reader.locator(f'.sc-msg[data-key="{new_key}"]')).to_have_count(1)
    settle(reader)
    assert abs(y_of(reader, key) - before_y) <= 2, "the reader's place moved when new messages arrived"
    assert scroller(reader).evaluate("el => el.scrollTop") == before_top
    expect(reader.locator(f'.sc-msg[data-key="{posted[-1]}"]')).not_to_be_in_viewport()

    scroller(reader).evaluate("el => { el.scrollTop = el.scrollHeight; }")
    settle(reader)
    assert at_bottom(reader)
    for i in range(3):
        new_key = api.post(tokens[2], f"Written while the reader is at the bottom, {i + 1}")["key"]
        newest = reader.locator(f'.sc-msg[data-key="{new_key}"]')
        expect(newest).to_be_in_viewport()
        wait_at_bottom(reader)
    assert shown_keys(reader)[-1] == new_key
