"""Markdown in a real browser: what the server rendered is what the page shows, live and from history, for the
sender and a reader; hostile text stays text and runs nothing; a long code line never widens a bubble on a phone."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Dialog, Locator, Page, expect

from .chat_page import join, message, scroller, send, settle, wait_connected
from .conftest import Deployment
from .processes import AppProcess

pytestmark = pytest.mark.e2e

FORMATTED = "**bold** and [the docs](https://example.com/docs)\n```\nprint('hi')\n```"
FORMATTED_TEXT = "bold and the docs\nprint('hi')\n"  # its visible text: the Markdown's own marks are gone
HOSTILE = "<img src=x onerror=alert(1)> [x](javascript:alert(1))"


@pytest.fixture(scope="module")
def app(deployment: Deployment) -> AppProcess:
    (app,) = deployment.start("app")
    return app


def watch_dialogs(page: Page) -> list[str]:
    """Every alert, confirm or prompt the page opens, dismissed at once."""
    dialogs: list[str] = []

    def seen(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", seen)
    return dialogs


def bubble(page: Page, visible_text: str) -> Locator:
    """The stored message whose rendered text contains ``visible_text``."""
    return page.locator(".sc-msg:not(.sc-pending):not(.sc-failed)").filter(has_text=visible_text)


def expect_formatted(page: Page) -> None:
    shown = bubble(page, "print('hi')")
    expect(shown).to_have_count(1)
    text = shown.locator(".sc-text")
    expect(text.locator("strong")).to_have_text("bold")
    link = text.get_by_role("link", name="the docs")
    expect(link).to_have_attribute("href", "https://example.com/docs")
    expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    expect(link).to_have_attribute("target", "_blank")
    expect(text.locator("pre")).to_have_text("print('hi')\n")
    assert text.text_content() == FORMATTED_TEXT


def test_formatting_shows_for_sender_and_reader_live_and_after_a_reload(
    app: AppProcess, new_person: Callable[[str], Page]
) -> None:
    writer, reader = new_person(app.base_url), new_person(app.base_url)
    join(writer, "Marta")
    join(reader, "Nils")
    send(writer, FORMATTED)
    for page in (writer, reader):
        expect_formatted(page)  # the sender's own confirmation and the room's emit both carry the html
        page.reload()
        wait_connected(page)
        expect_formatted(page)  # and the history path


def test_hostile_markup_stays_text_and_runs_nothing(app: AppProcess, new_person: Callable[[str], Page]) -> None:
    writer, reader = new_person(app.base_url), new_person(app.base_url)
    dialogs = watch_dialogs(writer)
    reader_dialogs = watch_dialogs(reader)
    join(writer, "Olga")
    join(reader, "Piet")
    send(writer, HOSTILE)
    send(writer, "after")
    for page in (writer, reader):
        expect(message(page, "after")).to_have_count(1)
        settle(page)
    writer.wait_for_timeout(500)  # an image's onerror, had one been made, has fired by now
    assert dialogs == []
    assert reader_dialogs == []
    for page in (writer, reader):
        shown = message(page, HOSTILE)
        expect(shown).to_have_count(1)
        assert shown.locator(".sc-text").text_content() == HOSTILE  # literal, character for character
        assert shown.locator("img, script, a").count() == 0  # no image, and the javascript: link is not a link


def test_a_long_code_line_scrolls_inside_its_bubble_on_a_phone(
    app: AppProcess, new_person: Callable[[str], Page]
) -> None:
    page = new_person(app.base_url)
    page.set_viewport_size({"width": 375, "height": 700})
    join(page, "Quinn")
    long_line = "x = " + "1234567890" * 30
    send(page, f"```\n{long_line}\n```\nand `{'inline_code_' * 20}` and {'https://example.com/' + 'a' * 150}")
    shown = bubble(page, long_line)
    expect(shown).to_have_count(1)
    settle(page)
    box = shown.bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= 375, f"the bubble overflows the screen: {box}"
    # nothing sticks out of the bubble (what is inside a code block scrolls within it)
    sticking_out = shown.evaluate(
        """el => {
            const right = el.getBoundingClientRect().right + 0.5;
            return [...el.querySelectorAll('*')].filter(c => !c.closest('pre') || c.tagName === 'PRE')
                .filter(c => c.getBoundingClientRect().right > right).map(c => c.tagName);
        }"""
    )
    assert sticking_out == []
    widths = shown.locator("pre").evaluate("pre => [pre.scrollWidth, pre.clientWidth]")
    assert widths[0] > widths[1], "the code block should scroll sideways, not wrap or widen the bubble"
    # neither the page nor the message list scrolls sideways: nothing is drawn past the bubble
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 375
    assert scroller(page).evaluate("el => el.scrollWidth - el.clientWidth") <= 0
