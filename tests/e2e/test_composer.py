"""The composer in a real browser: fast typing and pasting lose nothing; Shift+Enter, Send and refusals."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Locator, Page, expect

from .chat_page import expect_whole_on_screen, join, message, message_box, shown_messages, wait_connected
from .conftest import Deployment
from .processes import AppProcess

pytestmark = pytest.mark.e2e

MAX_LENGTH = 40


@pytest.fixture(scope="module")
def app(deployment: Deployment) -> AppProcess:
    (app,) = deployment.start("app", max_message_length=str(MAX_LENGTH))
    return app


def under_box(page: Page, text: str) -> Locator:
    """``text`` shown in the composer (a refusal appears under its box)."""
    return page.locator(".sc-composer").get_by_text(text, exact=True)


def shown_with_keys(page: Page, *, author: str) -> list[tuple[str, str]]:
    """(key, text) of ``author``'s messages, top to bottom."""
    rows = page.locator(".sc-msg").evaluate_all(
        "els => els.map(e => [e.dataset.key, e.querySelector('.sc-author').textContent,"
        " e.querySelector('.sc-text').textContent])"
    )
    assert [key for key, _, _ in rows] == sorted(key for key, _, _ in rows)
    return [(key, text) for key, who, text in rows if who == author]


def test_fast_typing_and_paste_then_enter_lose_nothing(app: AppProcess, new_person: Callable[[str], Page]) -> None:
    writer, reader = new_person(app.base_url), new_person(app.base_url)
    join(writer, "Quick")
    join(reader, "Watcher")
    message_box(writer).click()
    typed = [f"typed {i:02d} brown fox" for i in range(20)]
    pasted = [f"pasted {i:02d} lazy dog jumps" for i in range(20)]
    # Enter right after the last character, and the next message right after Enter: nothing waits for the server
    for text in typed:
        writer.keyboard.type(text, delay=30)
        writer.keyboard.press("Enter")
    for text in pasted:
        writer.keyboard.insert_text(text)  # what a paste does: one input event with the whole text
        writer.keyboard.press("Enter")

    sent = typed + pasted
    for page in (writer, reader):
        try:
            expect(message(page, pasted[-1])).to_have_count(1)
        except AssertionError as exc:
            raise AssertionError(f"the last message never arrived; shown: {shown_messages(page)}") from exc
        expect(page.locator(".sc-msg.sc-pending")).to_have_count(0)
        shown = shown_with_keys(page, author="Quick")
        assert [text for _, text in shown] == sent  # complete, in the order typed, each once
        assert [key for key, _ in shown] == sorted(key for key, _ in shown)  # and that is the order of their keys
    expect(message_box(writer)).to_have_value("")


def test_shift_enter_makes_a_new_line_and_only_a_plain_enter_or_send_sends(
    app: AppProcess, new_person: Callable[[str], Page]
) -> None:
    page = new_person(app.base_url)
    join(page, "Lines")
    box = page.get_by_role("textbox", name="Message")
    box.click()
    page.keyboard.type("first line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    expect(box).to_have_value("first line\nsecond line")
    page.get_by_role("button", name="Send").click()
    expect(message(page, "first line\nsecond line")).to_have_count(1)
    expect(box).to_have_value("")
    expect(box).to_be_focused()  # typing goes on without a click

    box.fill("かな")
    box.evaluate(  # the Enter that ends an input method's composition picks the word; it does not send
        "el => el.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', isComposing: true, bubbles: true}))"
    )
    expect(box).to_have_value("かな")
    box.press("Enter")
    expect(message(page, "かな")).to_have_count(1)
    assert [text for author, text in shown_messages(page) if author == "Lines"] == ["first line\nsecond line", "かな"]

    box.fill("  \n ")
    box.press("Enter")  # blank: nothing is sent, and the box keeps what it had
    expect(box).to_have_value("  \n ")
    assert [text for author, text in shown_messages(page) if author == "Lines"] == ["first line\nsecond line", "かな"]


def test_refused_text_comes_back_with_the_reason_until_the_next_keystroke(
    app: AppProcess, new_person: Callable[[str], Page]
) -> None:
    page = new_person(app.base_url)
    join(page, "Wordy")
    box = message_box(page)
    too_long = "x" * (MAX_LENGTH + 1)
    reason = f"This message has {MAX_LENGTH + 1} characters; the limit is {MAX_LENGTH}. Shorten it and send again."
    box.fill(too_long)
    box.press("Enter")
    expect(box).to_have_value(too_long)
    expect(under_box(page, reason)).to_be_visible()
    box.press("Backspace")
    expect(under_box(page, reason)).to_have_count(0)
    box.press("Enter")  # now within the limit
    expect(message(page, "x" * MAX_LENGTH)).to_have_count(1)
    expect(box).to_have_value("")

    # typed before the refusal came back: Enter and the next keystrokes in one task, before any answer can arrive
    box.fill(too_long)
    box.evaluate(
        """el => {
            el.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', bubbles: true, cancelable: true}));
            el.value = 'typed meanwhile';
            el.dispatchEvent(new Event('input', {bubbles: true}));
        }"""
    )
    expect_whole_on_screen(page, under_box(page, reason))
    expect(box).to_have_value("typed meanwhile")  # what was typed since stays; the refused text does not replace it


def test_offline_the_text_stays_in_the_box_and_a_draft_survives_a_reload(
    app: AppProcess, new_person: Callable[[str], Page]
) -> None:
    page = new_person(app.base_url)
    join(page, "Offline Writer")
    box = message_box(page)
    page.evaluate("window.socket.disconnect()")  # the network is gone
    box.fill("written on the train")
    box.press("Enter")
    expect(box).to_have_value("written on the train")  # not cleared into an event that could be lost
    offline = "You are offline. Your message stays here: send it again once you are back online."
    expect_whole_on_screen(page, under_box(page, offline))  # readable, under the box at the window's bottom
    page.evaluate("window.socket.connect()")
    wait_connected(page)
    box.press("Enter")
    expect(message(page, "written on the train")).to_have_count(1)
    expect(box).to_have_value("")

    box.fill("half a thought")  # typed, not sent, and the page reloads (as after a long time offline)
    page.reload()
    expect(message_box(page)).to_have_value("half a thought")
    page.get_by_role("button", name="Log out").click()
    join(page, "Next Person")  # a draft never passes to the next person in this tab
    expect(message_box(page)).to_have_value("")
