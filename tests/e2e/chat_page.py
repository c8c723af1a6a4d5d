"""What a person does on the chat page, in Playwright terms, and what the tests read back from it.

Locators follow what a person sees or hears from a screen reader (the "User name" label, the "Join" and "Send"
buttons, the "Message" box) plus the message list's own classes and data-key attributes.
"""

from __future__ import annotations

import re
import statistics
import uuid
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx
from playwright.sync_api import Locator, Page, expect

from chat.cookies import COOKIE_NAME
from tests.helpers import wait_until

START_LABEL = "This is the start of the conversation."


def name_input(page: Page) -> Locator:
    return page.get_by_label("User name")


def message_box(page: Page) -> Locator:
    return page.get_by_role("textbox", name="Message")


def load_more(page: Page) -> Locator:
    return page.get_by_role("button", name="Load more")


def scroller(page: Page) -> Locator:
    return page.locator(".sc-list")


def rooms_nav(page: Page) -> Locator:
    """The room list: ``<nav aria-label="Rooms">``."""
    return page.get_by_role("navigation", name="Rooms")


def room_link(page: Page, name: str) -> Locator:
    """The room list's link to the room called ``name`` (its accessible name is the name, then any unread count)."""
    return rooms_nav(page).get_by_role("link", name=re.compile(rf"^{re.escape(name)}( \d+\+?)?$"))


def unread_badge(page: Page, name: str) -> Locator:
    """The unread count inside the link to the room called ``name``."""
    return room_link(page, name).locator(".sc-unread")


def room_heading(page: Page) -> Locator:
    """The room's name in the top bar."""
    return page.get_by_role("heading", level=1)


def start_room(page: Page, name: str) -> None:
    """New room, type ``name``, Create (where the page goes then is the test's to check)."""
    rooms_nav(page).get_by_role("button", name="New room").click()
    page.get_by_role("textbox", name="Room name").fill(name)
    page.get_by_role("button", name="Create").click()


def expect_room(page: Page, name: str, path: str) -> None:
    """The page shows the room called ``name`` at ``path``: address, top bar, title and the list's current link."""
    expect(page).to_have_url(re.compile(rf"^https?://[^/]+{re.escape(path)}$"))
    expect(room_heading(page)).to_have_text(name)
    expect(page).to_have_title(name + " · sinchchat" if path != "/" else "sinchchat")
    # the list may be folded away (a narrow screen): its links are there all the same
    current = page.get_by_role("navigation", name="Rooms", include_hidden=True).locator('[aria-current="page"]')
    expect(current).to_have_count(1)
    expect(current.locator(".sc-room-name")).to_have_text(name)


def open_login(page: Page) -> None:
    page.goto("/")
    expect(name_input(page)).to_be_visible()


def join(page: Page, name: str, *, press_enter: bool = False) -> None:
    """Open the page if needed, type the name, join, and wait for the chat view."""
    if not name_input(page).is_visible():
        open_login(page)
    name_input(page).fill(name)
    if press_enter:
        name_input(page).press("Enter")
    else:
        page.get_by_role("button", name="Join").click()
    expect_chat(page, name)
    wait_signed_in(page)


def wait_signed_in(page: Page) -> None:
    """Until the browser holds its sign-in cookie. The page asks the API to set it right after it shows the chat,
    so a reload or another tab opened a moment after joining would otherwise still find none."""
    wait_until(
        lambda: any(c["name"] == COOKIE_NAME for c in page.context.cookies()), timeout=10, what="the sign-in cookie"
    )


def expect_chat(page: Page, name: str) -> None:
    expect(scroller(page)).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    expect(page.locator(".sc-bar")).to_contain_text(name)
    wait_connected(page)


def wait_connected(page: Page) -> None:
    """Until the page's websocket is up: what is sent before that is only in the page's catch-up."""
    page.wait_for_function("() => window.socket && window.socket.connected")


def expect_login(page: Page, timeout: float = 10_000) -> None:
    expect(name_input(page)).to_be_visible(timeout=timeout)
    expect(scroller(page)).to_have_count(0)


def send(page: Page, text: str, *, press_enter: bool = True) -> None:
    box = message_box(page)
    box.fill(text)
    if press_enter:
        box.press("Enter")
    else:
        page.get_by_role("button", name="Send").click()
    expect(box).to_have_value("")


def message(page: Page, text: str) -> Locator:
    """The stored (not pending, not failed) message whose text is exactly ``text``."""
    return page.locator(".sc-msg:not(.sc-pending):not(.sc-failed)").filter(
        has=page.locator(".sc-text").get_by_text(text, exact=True)
    )


def shown_keys(page: Page) -> list[str]:
    return [str(key) for key in page.locator(".sc-msg").evaluate_all("els => els.map(e => e.dataset.key)")]


def shown_messages(page: Page) -> list[tuple[str, str]]:
    """(author, text) of every message in the list, top to bottom, as the DOM has them."""
    return [
        tuple(pair)
        for pair in page.locator(".sc-msg").evaluate_all(
            "els => els.map(e => [e.querySelector('.sc-author').textContent, e.querySelector('.sc-text').textContent])"
        )
    ]


def at_bottom(page: Page) -> bool:
    return bool(scroller(page).evaluate("el => el.scrollHeight - el.scrollTop - el.clientHeight < 2"))


def wait_at_bottom(page: Page) -> None:
    """Until the list is scrolled to its end (it scrolls after Vue's next tick)."""
    page.wait_for_function(
        "el => el.scrollHeight - el.scrollTop - el.clientHeight < 2", arg=scroller(page).element_handle()
    )


def settle(page: Page) -> None:
    """Two animation frames: Vue's next tick and the layout after it have happened."""
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def expect_whole_on_screen(page: Page, locator: Locator) -> None:
    """``locator`` is visible and, once its transitions have run, wholly inside the window: a person reads all of
    it without scrolling the page (Playwright's visible means only that it has a size)."""
    expect(locator).to_be_visible()
    locator.evaluate(
        """el => Promise.all((el.closest('.q-field') || el).getAnimations({subtree: true})
            .filter(a => a.effect && a.effect.getTiming().iterations !== Infinity).map(a => a.finished))"""
    )
    settle(page)
    box, window = locator.bounding_box(), page.viewport_size
    assert box is not None
    assert window is not None
    inside = box["x"] >= 0 and box["y"] >= 0
    inside = inside and box["x"] + box["width"] <= window["width"] and box["y"] + box["height"] <= window["height"]
    assert inside, f"{locator} is cut off by the window's edge: {box} in {window}"


def first_visible_message(page: Page) -> Locator:
    """The top-most message whose top edge is inside the list's visible area."""
    key = scroller(page).evaluate(
        """el => {
            const top = el.getBoundingClientRect().top;
            const first = [...el.querySelectorAll('.sc-msg')].find(m => m.getBoundingClientRect().top >= top);
            return first ? first.dataset.key : null;
        }"""
    )
    assert key, "no message is visible in the list"
    return page.locator(f'.sc-msg[data-key="{key}"]')


# -- Send-to-seen latency ---------------------------------------------------------------------------------------
# Both pages run in one browser on one machine, so performance.timeOrigin + performance.now() is one clock.
_RECORD_SENDS = """() => {
    if (window.__sentAt !== undefined) return;
    window.__sentAt = null;
    const now = () => performance.timeOrigin + performance.now();
    document.addEventListener('keydown', e => {
        if (e.key === 'Enter' && !e.shiftKey && e.target.matches('textarea')) window.__sentAt = now();
    }, true);
    document.addEventListener('click', e => {
        const button = e.target.closest('button');
        if (button && button.textContent.trim() === 'Send') window.__sentAt = now();
    }, true);
}"""
_RECORD_ARRIVALS = """() => {
    if (window.__seenAt !== undefined) return;
    window.__seenAt = {};
    const now = () => performance.timeOrigin + performance.now();
    const look = () => {
        for (const el of document.querySelectorAll('.sc-msg .sc-text')) {
            if (!(el.textContent in window.__seenAt)) window.__seenAt[el.textContent] = now();
        }
    };
    look();
    new MutationObserver(look).observe(document.body, {childList: true, subtree: true, characterData: true});
}"""


@dataclass
class Latency:
    """Milliseconds from the Send click (or the Enter key) in one page to the text's arrival in another page."""

    samples: list[float] = field(default_factory=list)

    def measure(self, sender: Page, reader: Page, text: str, *, press_enter: bool = True) -> float:
        sender.evaluate(_RECORD_SENDS)
        reader.evaluate(_RECORD_ARRIVALS)
        send(sender, text, press_enter=press_enter)
        expect(message(reader, text)).to_have_count(1)
        sent = sender.evaluate("() => window.__sentAt")
        seen = reader.evaluate("t => window.__seenAt[t]", text)
        assert sent is not None, "the Send click or Enter was not seen"
        assert seen is not None
        took = float(seen) - float(sent)
        self.samples.append(took)
        return took

    def summary(self) -> str:
        ordered = sorted(self.samples)
        return (
            f"n={len(ordered)} median={statistics.median(ordered):.0f} ms "
            f"min={ordered[0]:.0f} ms max={ordered[-1]:.0f} ms "
            f"all=[{', '.join(f'{s:.0f}' for s in self.samples)}]"
        )


# -- the JSON API, for seeding and for reading the stored truth -------------------------------------------------
class Api:
    def __init__(self, base_url: str) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=10)
        self._reader: str | None = None  # a session of its own: reading history needs one

    def _reader_headers(self) -> dict[str, str]:
        if self._reader is None:
            self._reader = self.join(f"reader{uuid.uuid4().hex[:8]}")
        return {"Authorization": f"Bearer {self._reader}"}

    def close(self) -> None:
        self.client.close()

    def join(self, name: str) -> str:
        response = self.client.post("/api/sessions", json={"name": name})
        assert response.status_code == 201, response.text
        return str(response.json()["token"])

    @staticmethod
    def _messages_path(room: str | None) -> str:
        """The lobby's messages without a room, another room's by its id."""
        return "/api/messages" if room is None else f"/api/rooms/{quote(room, safe='')}/messages"

    def post(self, token: str, text: str, *, room: str | None = None) -> dict[str, str]:
        response = self.client.post(
            self._messages_path(room), json={"text": text}, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def create_room(self, token: str, name: str) -> dict[str, str]:
        """The room called ``name``, made now or already there: its id, name and path."""
        response = self.client.post("/api/rooms", json={"name": name}, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code in (200, 201), response.text
        return dict(response.json())

    def page(
        self, *, before: str | None = None, limit: int | None = None, room: str | None = None
    ) -> tuple[list[dict[str, str]], str | None]:
        params: dict[str, str | int] = {}
        if before is not None:
            params["before"] = before
        if limit is not None:
            params["limit"] = limit
        response = self.client.get(self._messages_path(room), params=params, headers=self._reader_headers())
        assert response.status_code == 200, response.text
        body = response.json()
        return body["messages"], body["next_before"]

    def all_messages(self, *, room: str | None = None) -> list[dict[str, str]]:
        """Every stored message of ``room`` (the lobby when None), oldest first, read page by page."""
        pages: list[list[dict[str, str]]] = []
        before: str | None = None
        while True:
            messages, before = self.page(before=before, limit=100, room=room)
            pages.append(messages)
            if before is None:
                break
        return [m for page in reversed(pages) for m in page]
