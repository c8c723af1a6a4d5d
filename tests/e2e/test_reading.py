"""Reading comfort in a real browser, through two app processes behind nginx: grouping and day separators, the
"N new messages" button and the title's count, mentions and notifications, dark mode, and what a screen reader or a
keyboard needs (the page's language, the live region, focus, the growing box and its counter).

Others write through the JSON API (to whichever process nginx picks); each test has a room of its own.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Locator, Page, expect

from chat.models import Draft
from chat.storage import TableNames
from chat.storage.client import Dynamo
from chat.storage.messages import MessageStore
from tests.helpers import wait_until

from .chat_page import (
    Api,
    expect_chat,
    join,
    message,
    message_box,
    room_link,
    scroller,
    send,
    settle,
    wait_at_bottom,
)
from .conftest import Deployment
from .test_cluster import ROUTE_COOKIE, Cluster

pytestmark = pytest.mark.e2e

MAX_LENGTH = 200
_people = itertools.count(1)


@pytest.fixture(scope="module")
def cluster(deployment: Deployment) -> Cluster:
    a, b = deployment.start("app_a", "app_b", max_message_length=str(MAX_LENGTH))
    return Cluster(a=a, b=b, nginx=deployment.start_nginx([a, b]))


@pytest.fixture
def api(cluster: Cluster) -> Iterator[Api]:
    api = Api(cluster.nginx.base_url)
    yield api
    api.close()


@pytest.fixture
def person(cluster: Cluster, new_person: Callable[[str], Page]) -> Callable[[], Page]:
    """``person()``: a new browser whose requests nginx sends to the second process (others write through both)."""
    route = cluster.route_to(cluster.b)

    def make() -> Page:
        page = new_person(cluster.nginx.base_url)
        page.context.add_cookies([{"name": ROUTE_COOKIE, "value": route, "url": cluster.nginx.base_url}])
        return page

    return make


def name(base: str) -> str:
    """A name no other test of the module holds (a name is taken while its session lives)."""
    return f"{base}{next(_people)}"


def new_room(api: Api, token: str) -> dict[str, str]:
    return api.create_room(token, f"reading {uuid.uuid4().hex[:8]}")


def seed(deployment: Deployment, room: str, author: str, text: str, at: datetime) -> None:
    """Store a message as if the server had written it at ``at`` (keys come from the server's clock alone)."""

    async def put() -> None:
        with deployment.dynamodb() as client:
            db = Dynamo(client)
            try:
                store = MessageStore(db=db, tables=TableNames.with_prefix(deployment.prefix), clock=at.timestamp)
                draft = Draft(room=room, author=author, author_id=f"seed{author}", text=text, nonce=uuid.uuid4().hex)
                await store.put(draft)
            finally:
                db.close()

    # on a thread of its own: Playwright's sync API runs an event loop in this one
    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(asyncio.run, put()).result()


def open_room(page: Page, who: str, path: str) -> None:
    page.goto(path)
    join(page, who)


def visibly_shown(locator: Locator) -> bool:
    """Drawn for the eye: more than the 1 px box of text kept for screen readers only."""
    return bool(locator.evaluate("el => { const r = el.getBoundingClientRect(); return r.width > 1 && r.height > 1; }"))


def new_messages(page: Page) -> Locator:
    return page.get_by_role("button", name=re.compile(r"^\d+ new messages?$"))


def scroll_up(page: Page) -> None:
    scroller(page).evaluate("el => { el.scrollTop = 0; }")
    settle(page)


def test_grouping_day_separators_and_full_time_on_hover(
    deployment: Deployment, api: Api, person: Callable[[], Page]
) -> None:
    ana, bo = name("Ana"), name("Bo")
    ana_token, bo_token = api.join(ana), api.join(bo)
    room = new_room(api, ana_token)
    now = datetime.now(UTC)
    last_year = now - timedelta(days=400)  # always another year
    three_days_ago = now - timedelta(days=3)
    yesterday_noon = (now - timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)
    seed(deployment, room["id"], "Old", "from last year", last_year)
    seed(deployment, room["id"], "Old", "from three days ago", three_days_ago)
    seed(deployment, room["id"], "Old", "from yesterday", yesterday_noon)
    seed(deployment, room["id"], "Old", "four minutes on", yesterday_noon + timedelta(minutes=4))
    seed(deployment, room["id"], "Old", "six minutes after that", yesterday_noon + timedelta(minutes=10))
    api.post(ana_token, "first of two", room=room["id"])
    api.post(ana_token, "second of two", room=room["id"])
    api.post(bo_token, "another author", room=room["id"])

    reader = person()
    open_room(reader, name("Cy"), room["path"])
    older = f"{three_days_ago:%A, %B} {three_days_ago.day}"  # the year only for another year
    if three_days_ago.year != now.year:
        older += f", {three_days_ago.year}"
    oldest = f"{last_year:%A, %B} {last_year.day}, {last_year.year}"
    expect(reader.get_by_role("heading", level=2)).to_have_text([oldest, older, "Yesterday", "Today"])
    # each separator sits right above the first message of its day
    above = reader.locator(".sc-day + .sc-msg .sc-text")
    expect(above).to_have_text(["from last year", "from three days ago", "from yesterday", "first of two"])
    # within 5 minutes of the author's previous message the name is not drawn again; after more, it is
    assert not visibly_shown(message(reader, "four minutes on").locator(".sc-author"))
    assert visibly_shown(message(reader, "six minutes after that").locator(".sc-author"))

    first, second, other = (message(reader, t) for t in ("first of two", "second of two", "another author"))
    assert visibly_shown(first.locator(".sc-author"))
    assert visibly_shown(first.locator(".sc-time"))
    # the same author a moment later: no name or time drawn again, yet a screen reader still hears who wrote it
    assert not visibly_shown(second.locator(".sc-author"))
    assert not visibly_shown(second.locator(".sc-time"))
    expect(second.locator(".sc-author")).to_have_text(ana)
    assert visibly_shown(other.locator(".sc-author"))
    expect(other.locator(".sc-author")).to_have_text(bo)

    # the full date and time in the reader's locale (en-US, UTC here) on hover of the time
    stamp = first.locator("time")
    created = datetime.fromisoformat(str(stamp.get_attribute("datetime")).replace("Z", "+00:00"))
    expect(stamp).to_have_attribute(
        "title", re.compile(rf"^{created:%A, %B} {created.day}, {created.year} at {created:%-I:%M %p}$")
    )


def test_new_messages_button_and_title_while_scrolled_up(api: Api, person: Callable[[], Page]) -> None:
    ana = name("Ana")
    token = api.join(ana)
    room = new_room(api, token)
    for i in range(40):
        api.post(token, f"filler {i:02d} to make the list scroll", room=room["id"])
    me = name("Dee")
    reader = person()
    open_room(reader, me, room["path"])
    wait_at_bottom(reader)
    title = reader.title()
    expect(new_messages(reader)).to_have_count(0)

    scroll_up(reader)
    api.post(token, "news one", room=room["id"])
    expect(message(reader, "news one")).to_have_count(1)
    expect(reader.get_by_role("button", name="1 new message")).to_be_visible()
    expect(reader).to_have_title(f"(1) {title}")
    api.post(token, "news two", room=room["id"])
    expect(reader.get_by_role("button", name="2 new messages")).to_be_visible()
    expect(reader).to_have_title(f"(2) {title}")
    # a screen reader hears the newest message alone, not the list
    expect(reader.locator("[aria-live=polite]")).to_have_text(f"{ana}: news two")

    # the button brings the first unseen message into view and goes
    new_messages(reader).click()
    expect(new_messages(reader)).to_have_count(0)
    expect(message(reader, "news one")).to_be_in_viewport()
    expect(reader).to_have_title(title)

    # scrolling to the bottom by hand sees them too
    scroll_up(reader)
    api.post(token, "news three", room=room["id"])
    expect(reader.get_by_role("button", name="1 new message")).to_be_visible()
    scroller(reader).evaluate("el => { el.scrollTop = el.scrollHeight; }")
    expect(new_messages(reader)).to_have_count(0)
    expect(reader).to_have_title(title)

    # the reader's own message: always to the bottom, where it shows
    scroll_up(reader)
    send(reader, "my own words")
    expect(message(reader, "my own words")).to_have_count(1)
    wait_at_bottom(reader)
    expect(message(reader, "my own words")).to_be_in_viewport()
    expect(reader).to_have_title(title)


# records the notifications the page makes, with the permission already given
FAKE_NOTIFICATIONS = """
window.__notes = [];
window.Notification = class {
  static permission = "granted";
  static requestPermission() { return Promise.resolve("granted"); }
  constructor(title, options) { window.__notes.push({ title, body: options && options.body }); }
};
"""
HIDE_TAB = """() => {
  Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
  Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
  document.dispatchEvent(new Event("visibilitychange"));
}"""


SHOW_TAB = """() => {
  Object.defineProperty(document, "hidden", { configurable: true, get: () => false });
  Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "visible" });
  document.dispatchEvent(new Event("visibilitychange"));
}"""


def test_a_mention_is_highlighted_and_notified_while_the_tab_is_hidden(api: Api, person: Callable[[], Page]) -> None:
    ana, me = name("Ana"), name("Dee")
    token = api.join(ana)
    room = new_room(api, token)
    reader = person()
    reader.context.add_init_script(FAKE_NOTIFICATIONS)
    open_room(reader, me, room["path"])
    expect(reader.get_by_role("button", name="Enable notifications")).to_have_count(0)  # given already

    api.post(token, f"hello @{me.lower()}, lunch?", room=room["id"])  # any case
    api.post(token, f"@{me}0 is someone else", room=room["id"])
    api.post(token, f"a mail to x@{me} is no mention either", room=room["id"])
    mention = message(reader, f"hello @{me.lower()}, lunch?")
    expect(mention).to_have_class(re.compile(r"\bsc-mention\b"))
    expect(mention).to_contain_text("mentions you")
    assert mention.evaluate("el => parseFloat(getComputedStyle(el).borderLeftWidth)") >= 3
    for text in (f"@{me}0 is someone else", f"a mail to x@{me} is no mention either"):
        expect(message(reader, text)).not_to_have_class(re.compile(r"\bsc-mention\b"))
    assert reader.evaluate("() => window.__notes") == []  # the tab was in sight

    reader.evaluate(HIDE_TAB)
    api.post(token, "not for you", room=room["id"])
    api.post(token, f"@{me} the table is booked", room=room["id"])
    expect(message(reader, f"@{me} the table is booked")).to_have_count(1)
    expect(reader).to_have_title(re.compile(r"^\(2\) "))
    notes = reader.evaluate("() => window.__notes")
    assert notes == [{"title": room["name"], "body": f"{ana}: @{me} the table is booked"}]
    title = reader.title().removeprefix("(2) ")
    reader.evaluate(SHOW_TAB)  # back in sight, at the bottom: seen
    expect(reader).to_have_title(title)


def test_notifications_are_offered_until_given_and_say_when_blocked(
    cluster: Cluster, person: Callable[[], Page]
) -> None:
    reader = person()
    open_room(reader, name("Eve"), "/")
    offer = reader.get_by_role("button", name="Enable notifications")
    expect(offer).to_be_visible()
    reader.context.grant_permissions(["notifications"], origin=cluster.nginx.base_url)
    offer.click()
    expect(offer).to_have_count(0)
    expect(reader.get_by_text("Notifications blocked")).to_have_count(0)

    refused = person()
    refused.context.add_init_script('window.Notification = { permission: "denied" };')
    open_room(refused, name("Eve"), "/")
    expect(refused.get_by_text("Notifications blocked")).to_be_visible()
    expect(refused.get_by_role("button", name="Enable notifications")).to_have_count(0)

    without = person()  # a browser without the Notification API: nothing to offer
    without.context.add_init_script("delete window.Notification;")
    open_room(without, name("Eve"), "/")
    expect(without.get_by_role("button", name="Log out")).to_be_visible()
    expect(without.get_by_role("button", name="Enable notifications")).to_have_count(0)
    expect(without.get_by_text("Notifications blocked")).to_have_count(0)


def test_dark_mode_follows_the_system_and_the_toggle_overrides_it(person: Callable[[], Page]) -> None:
    reader, fay = person(), name("Fay")
    reader.emulate_media(color_scheme="dark")
    open_room(reader, fay, "/")
    toggle = reader.get_by_role("button", name="Dark mode")
    expect(reader.locator("body")).to_have_class(re.compile(r"\bbody--dark\b"))
    expect(toggle).to_have_attribute("aria-pressed", "true")
    send(reader, "dark and readable")
    bubble = message(reader, "dark and readable")
    dark_background = bubble.evaluate("el => getComputedStyle(el).backgroundColor")

    toggle.click()
    expect(reader.locator("body")).not_to_have_class(re.compile(r"\bbody--dark\b"))
    expect(toggle).to_have_attribute("aria-pressed", "false")
    assert bubble.evaluate("el => getComputedStyle(el).backgroundColor") != dark_background
    reader.reload()  # remembered over the system's dark
    expect_chat(reader, fay)
    expect(reader.locator("body")).not_to_have_class(re.compile(r"\bbody--dark\b"))
    toggle.click()
    expect(reader.locator("body")).to_have_class(re.compile(r"\bbody--dark\b"))
    reader.emulate_media(color_scheme="light")
    reader.reload()
    expect(reader.locator("body")).to_have_class(re.compile(r"\bbody--dark\b"))
    # on a phone the toggle stays on screen
    reader.set_viewport_size({"width": 375, "height": 700})
    expect(toggle).to_be_in_viewport(ratio=1)


def test_language_focus_growing_box_and_counter(api: Api, person: Callable[[], Page]) -> None:
    token = api.join(name("Gil"))
    other = new_room(api, token)
    reader = person()
    reader.goto("/")
    expect(reader.locator("html")).to_have_attribute("lang", "en")
    join(reader, name("Hal"))
    box = message_box(reader)
    expect(box).to_be_focused()  # after joining
    room_link(reader, other["name"]).click()
    expect(reader).to_have_url(re.compile(re.escape(other["path"]) + "$"))
    expect(box).to_be_focused()  # after switching rooms
    expect(reader.locator("html")).to_have_attribute("lang", "en")

    # the box grows with its text, up to 40% of the window, then scrolls
    one_line = box.evaluate("el => el.getBoundingClientRect().height")
    box.fill("line\n" * 3)
    # the box takes its new height a frame after the text: wait for it, not a fixed time
    wait_until(lambda: box.evaluate("el => el.getBoundingClientRect().height") > one_line, timeout=5, what="growth")
    box.fill("line\n" * 60)
    settle(reader)
    window = reader.viewport_size
    assert window is not None
    height = box.evaluate("el => el.getBoundingClientRect().height")
    assert height <= window["height"] * 0.4 + 1, f"the box is {height} px high in a {window['height']} px window"
    assert box.evaluate("el => el.scrollHeight > el.clientHeight && getComputedStyle(el).overflowY === 'auto'")

    # a counter near the limit only
    counter = reader.locator(".sc-composer").get_by_text(re.compile(r"characters? left|over the limit"))
    box.fill("x" * (MAX_LENGTH * 9 // 10 - 1))
    expect(counter).to_have_count(0)
    box.fill("x" * (MAX_LENGTH - 20))
    expect(counter).to_have_text("20 characters left")
    box.fill("x" * (MAX_LENGTH + 5))
    expect(counter).to_have_text("5 over the limit")
