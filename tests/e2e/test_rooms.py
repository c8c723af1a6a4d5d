"""Rooms in a real browser, through two app processes behind the repo's nginx: the room list, New room, addresses,
unread counts, Load more per room, look-alike names, logout across rooms and tabs, and the narrow screen.

People find things by what a screen reader announces: the "Rooms" navigation, links named after rooms, the
"New room" button, the "Room name" box, the "Create" button, and aria-current="page" on the room shown.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, expect

from chat.rooms import lookalike_key
from components.chat_view import READ_MARK_SECONDS

from .chat_page import (
    START_LABEL,
    Api,
    expect_chat,
    expect_login,
    expect_room,
    first_visible_message,
    join,
    load_more,
    message,
    message_box,
    name_input,
    room_heading,
    room_link,
    rooms_nav,
    scroller,
    send,
    settle,
    shown_keys,
    shown_messages,
    start_room,
    unread_badge,
    wait_at_bottom,
    wait_connected,
)
from .conftest import Deployment
from .processes import AppProcess
from .test_cluster import ROUTE_COOKIE, Cluster

pytestmark = pytest.mark.e2e

# how soon a message in one room shows as unread in the room list of a reader elsewhere, on another process
UNREAD_WITHIN = 2.0


@pytest.fixture(scope="module")
def cluster(deployment: Deployment) -> Cluster:
    a, b = deployment.start("app_a", "app_b")
    return Cluster(a=a, b=b, nginx=deployment.start_nginx([a, b]))


@pytest.fixture(scope="module")
def routes(cluster: Cluster) -> dict[str, str]:
    """A route cookie value for each process: a browser holding it is sent there by nginx."""
    return {app.name: cluster.route_to(app) for app in (cluster.a, cluster.b)}


@pytest.fixture
def api(cluster: Cluster) -> Iterator[Api]:
    api = Api(cluster.nginx.base_url)
    yield api
    api.close()


@pytest.fixture
def person_on(
    cluster: Cluster, routes: dict[str, str], new_person: Callable[[str], Page]
) -> Callable[[AppProcess], Page]:
    """``person_on(app)``: a new browser at nginx's address whose requests nginx sends to ``app``."""

    def make(app: AppProcess) -> Page:
        page = new_person(cluster.nginx.base_url)
        page.context.add_cookies([{"name": ROUTE_COOKIE, "value": routes[app.name], "url": cluster.nginx.base_url}])
        return page

    return make


def test_a_new_room_reaches_a_reader_on_the_other_process_live_with_its_unread_count(
    cluster: Cluster,
    api: Api,
    person_on: Callable[[AppProcess], Page],
    record_property: Callable[[str, object], None],
) -> None:
    alice, bob = person_on(cluster.a), person_on(cluster.b)
    join(alice, "Alice")
    join(bob, "Bob")
    bob_other_tab = bob.context.new_page()
    bob_other_tab.goto("/")
    expect_chat(bob_other_tab, "Bob")
    for page in (alice, bob, bob_other_tab):
        expect_room(page, "Lobby", "/")

    start_room(alice, "Game night")
    expect_room(alice, "Game night", "/r/game%20night")
    expect(alice.get_by_text(START_LABEL)).to_be_visible()
    for page in (bob, bob_other_tab):  # no reload: the list grows on the other process too
        expect(room_link(page, "Game night")).to_be_visible()
        expect(unread_badge(page, "Game night")).to_have_count(0)
    bob.reload()  # and the other process lists the room from now on, not only the tabs that were open
    expect_chat(bob, "Bob")
    expect(room_link(bob, "Game night")).to_be_visible()
    expect(unread_badge(bob, "Game night")).to_have_count(0)

    # each message stays in its room
    send(bob, "Who is in for game night?")
    expect(message(bob, "Who is in for game night?")).to_have_count(1)
    started = time.monotonic()
    send(alice, "Setting up the board")
    for page in (bob, bob_other_tab):
        expect(unread_badge(page, "Game night")).to_have_text(
            "1", timeout=max(0.0, UNREAD_WITHIN - (time.monotonic() - started)) * 1000
        )
    took = time.monotonic() - started
    record_property("unread_count_seconds", round(took, 3))
    print(f"\nA message in a room counted in a reader's room list on the other process after {took * 1000:.0f} ms")
    expect(message(alice, "Setting up the board")).to_have_count(1)
    expect(message(alice, "Who is in for game night?")).to_have_count(0)
    expect(message(bob, "Setting up the board")).to_have_count(0)
    expect(unread_badge(alice, "Lobby")).to_have_text("1")  # Bob's lobby message, for Alice away in her room

    # Bob opens the room: its count goes, in this tab and in his other tab (still in the lobby)
    room_link(bob, "Game night").click()
    expect_room(bob, "Game night", "/r/game%20night")
    expect(message(bob, "Setting up the board")).to_have_count(1)
    expect(message(bob, "Who is in for game night?")).to_have_count(0)
    expect(unread_badge(bob_other_tab, "Game night")).to_have_count(0)
    expect_room(bob_other_tab, "Lobby", "/")

    # back in the lobby, more than 99 new messages: "99+", live and after a reload
    room_link(bob, "Lobby").click()
    expect_room(bob, "Lobby", "/")
    expect(message(bob, "Who is in for game night?")).to_have_count(1)
    wait_connected(bob)
    poster = api.join("Dice Bot")
    for i in range(101):
        api.post(poster, f"Roll {i + 1}", room="game night")
    for page in (bob, bob_other_tab):
        expect(unread_badge(page, "Game night")).to_have_text("99+")
    bob.reload()
    expect_chat(bob, "Bob")
    expect(unread_badge(bob, "Game night")).to_have_text("99+")
    expect(message(bob, "Roll 101")).to_have_count(0)


def test_a_person_who_joins_later_sees_no_old_message_as_unread(
    cluster: Cluster, api: Api, person_on: Callable[[AppProcess], Page]
) -> None:
    """Rooms a session never opened count as read up to the moment it joined."""
    host = api.join("Host")
    api.create_room(host, "Old news")
    for i in range(3):
        api.post(host, f"Said before anyone else came, {i + 1}", room="old news")
    for app in (cluster.a, cluster.b):
        newcomer = person_on(app)
        join(newcomer, f"Newcomer {app.name}")
        expect(room_link(newcomer, "Old news")).to_be_visible()
        expect(unread_badge(newcomer, "Old news")).to_have_count(0)
        newcomer.reload()
        expect_chat(newcomer, f"Newcomer {app.name}")
        expect(unread_badge(newcomer, "Old news")).to_have_count(0)
        api.post(host, f"Said after {app.name}'s newcomer came", room="old news")
        expect(unread_badge(newcomer, "Old news")).to_have_text("1")


def test_activity_heard_after_the_page_counted_does_not_count_a_message_twice(
    cluster: Cluster, api: Api, person_on: Callable[[AppProcess], Page]
) -> None:
    """The room list's activity is coalesced and reaches a tab up to a second or so late: a message the page's
    counts already hold (or, for a newcomer, one from before joining) must not be counted again when it arrives."""
    host = api.join("Archivist")
    room = api.create_room(host, "Backlog")
    before = api.post(host, "Stored before the page counted", room=room["id"])
    reader = person_on(cluster.a)
    join(reader, "Latecomer")
    expect(room_link(reader, "Backlog")).to_be_visible()
    hear = "([room, key]) => { for (const f of window.socket.listeners('sinchchat_activity')) f({[room]: [key, 1]}); }"
    reader.evaluate(hear, [room["id"], before["key"]])  # late news of what was stored before the page counted
    reader.evaluate(hear, [room["id"], before["key"]])
    expect(unread_badge(reader, "Backlog")).to_have_count(0)
    api.post(host, "Stored after the page counted", room=room["id"])
    expect(unread_badge(reader, "Backlog")).to_have_text("1")


def test_a_room_address_reloads_in_place_asks_to_join_first_and_is_canonical(
    deployment: Deployment, cluster: Cluster, api: Api, person_on: Callable[[AppProcess], Page]
) -> None:
    host = api.join("Librarian")
    room = api.create_room(host, "Book club")
    assert room["path"] == "/r/book%20club"
    api.post(host, "Chapter one tonight", room=room["id"])
    api.post(host, "In the lobby, not the club")

    carol = person_on(cluster.a)
    carol.goto(room["path"])  # signed out: the join form, then that room
    expect_login(carol)
    name_input(carol).fill("Carol")
    name_input(carol).press("Enter")
    expect_chat(carol, "Carol")
    expect_room(carol, "Book club", room["path"])
    expect(message(carol, "Chapter one tonight")).to_have_count(1)
    expect(message(carol, "In the lobby, not the club")).to_have_count(0)

    send(carol, "I have read it twice")
    expect(message(carol, "I have read it twice")).to_have_count(1)
    before = shown_messages(carol)
    carol.reload()  # the same room, with its history
    expect_chat(carol, "Carol")
    expect_room(carol, "Book club", room["path"])
    expect(message(carol, "I have read it twice")).to_have_count(1)
    assert shown_messages(carol) == before

    carol.goto("/r/BOOK%20CLUB")  # any case: the room's one address
    expect_room(carol, "Book club", room["path"])
    carol.goto(f"/r/{deployment.room.upper()}")  # the lobby has one address too
    expect_room(carol, "Lobby", "/")

    carol.goto("/r/no%20such%20room")
    expect(carol.get_by_text("There is no room with that name.")).to_be_visible()
    expect(carol).to_have_title("No such room · sinchchat")
    expect(message_box(carol)).to_have_count(0)
    carol.get_by_role("link", name="Go to the lobby").click()
    expect_room(carol, "Lobby", "/")


def test_load_more_in_a_room_keeps_the_readers_place_and_brings_only_that_rooms_messages(
    cluster: Cluster, api: Api, person_on: Callable[[AppProcess], Page]
) -> None:
    writer = api.join("Storyteller")
    room = api.create_room(writer, "Long story")
    for i in range(75):  # two and a half pages of the room, with lobby messages in between
        api.post(writer, f"Chapter {i + 1:03d}", room=room["id"])
        if i % 10 == 0:
            api.post(writer, f"Meanwhile in the lobby {i}")
    stored = [m["key"] for m in api.all_messages(room=room["id"])]
    assert len(stored) == 75

    reader = person_on(cluster.b)
    reader.goto(room["path"])
    join(reader, "Reader")
    expect_room(reader, "Long story", room["path"])
    # the newest message and the box under it are on screen; the list scrolls, not the page
    expect(reader.locator(f'.sc-msg[data-key="{stored[-1]}"]')).to_be_in_viewport()
    expect(message_box(reader)).to_be_in_viewport()
    wait_at_bottom(reader)
    assert reader.evaluate("() => document.scrollingElement.scrollTop") == 0

    clicks = 0
    while load_more(reader).is_visible():
        assert clicks < 5, "Load more never reached the room's first message"
        scroller(reader).evaluate("el => { el.scrollTop = 0; }")
        expect(load_more(reader)).to_be_in_viewport()
        anchor = first_visible_message(reader)
        key = str(anchor.get_attribute("data-key"))
        before_y, before_count = anchor.bounding_box(), reader.locator(".sc-msg").count()
        load_more(reader).click()
        expect(reader.locator(".sc-msg")).not_to_have_count(before_count)
        settle(reader)
        after_y = reader.locator(f'.sc-msg[data-key="{key}"]').bounding_box()
        assert before_y is not None
        assert after_y is not None
        assert abs(after_y["y"] - before_y["y"]) <= 2, f"click {clicks + 1}: the message read moved"
        clicks += 1
    expect(reader.get_by_text(START_LABEL)).to_be_visible()
    assert shown_keys(reader) == stored, "the room's list differs from its stored messages"
    assert not [text for _, text in shown_messages(reader) if "lobby" in text]
    assert clicks == 2


def test_a_look_alike_name_is_refused_and_a_taken_name_leads_to_its_room(
    cluster: Cluster, api: Api, person_on: Callable[[AppProcess], Page]
) -> None:
    assert lookalike_key("Garne night") == lookalike_key("Game night")  # "rn" looks like "m"
    api.create_room(api.join("Organizer"), "Game night")
    dave = person_on(cluster.a)
    join(dave, "Dave")

    new_room = rooms_nav(dave).get_by_role("button", name="New room")
    new_room.click()
    dave.keyboard.type("Never mind")  # the box has the focus
    dave.keyboard.press("Escape")  # gone, and the keyboard is back where it was
    expect(dave.get_by_role("textbox", name="Room name")).to_have_count(0)
    expect(new_room).to_be_focused()

    start_room(dave, "Garne night")
    box = dave.get_by_role("textbox", name="Room name")
    refusal = rooms_nav(dave).get_by_role("alert")
    expect(refusal).to_have_text("That name is too similar to the room 'Game night'. Pick another one.")
    expect(box).to_have_value("Garne night")
    expect(box).to_have_attribute("aria-invalid", "true")
    expect_room(dave, "Lobby", "/")
    expect(room_link(dave, "Garne night")).to_have_count(0)

    box.fill("GAME NIGHT")  # the name of a room that exists, in other letters: that room
    expect(refusal).to_have_count(0)
    dave.get_by_role("button", name="Create").click()
    expect_room(dave, "Game night", "/r/game%20night")


def test_logout_in_one_room_ends_the_session_in_every_room_and_tab(
    cluster: Cluster, api: Api, person_on: Callable[[AppProcess], Page]
) -> None:
    room = api.create_room(api.join("Quiet host"), "Quiet room")
    lobby_tab = person_on(cluster.a)
    join(lobby_tab, "Erin")
    room_tab = lobby_tab.context.new_page()
    room_tab.goto(room["path"])
    expect_chat(room_tab, "Erin")
    # the same browser on the other process, by its own address: the sign-in cookie holds there too
    elsewhere = lobby_tab.context.new_page()
    elsewhere.goto(f"{cluster.b.base_url}{room['path']}")
    expect_chat(elsewhere, "Erin")
    expect_room(elsewhere, "Quiet room", room["path"])

    room_tab.get_by_role("button", name="Log out").click()
    for page in (room_tab, lobby_tab, elsewhere):
        expect_login(page, timeout=5_000)  # no reload: the session's end reaches every room and tab
    for page in (room_tab, lobby_tab, elsewhere):
        page.reload()
        expect_login(page)
    join(lobby_tab, "Erin")  # the name is free again


def test_on_a_narrow_screen_the_room_list_folds_behind_the_rooms_menu(
    cluster: Cluster, api: Api, person_on: Callable[[AppProcess], Page]
) -> None:
    host = api.join("Narrow host")
    room = api.create_room(host, "Pocket room")
    page = person_on(cluster.b)
    page.set_viewport_size({"width": 375, "height": 740})
    join(page, "Frida")
    menu = page.get_by_role("button", name="Rooms")
    expect(menu).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(rooms_nav(page)).to_be_hidden()
    expect(room_heading(page)).to_have_text("Lobby")
    expect(message_box(page)).to_be_in_viewport()
    assert page.evaluate("() => document.scrollingElement.scrollWidth") <= 375, "the page scrolls sideways"

    api.post(host, "Anyone here?", room=room["id"])
    expect(menu).to_contain_text("1")  # the menu says that a folded room has something new

    # an open list closes as a drawer does: Escape (the keyboard back on the menu button), a tap beside it
    menu.click()
    expect(rooms_nav(page)).to_be_visible()
    page.keyboard.press("Escape")
    expect(rooms_nav(page)).to_be_hidden()
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(menu).to_be_focused()
    menu.click()
    expect(rooms_nav(page)).to_be_visible()
    page.mouse.click(360, 400)  # the messages, right of the list
    expect(rooms_nav(page)).to_be_hidden()

    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(rooms_nav(page)).to_be_visible()
    expect(unread_badge(page, "Pocket room")).to_have_text("1")
    room_link(page, "Pocket room").click()
    expect_room(page, "Pocket room", room["path"])
    expect(rooms_nav(page)).to_be_hidden()
    expect(message(page, "Anyone here?")).to_be_in_viewport()


def test_a_tab_back_from_a_moment_offline_gets_the_counts_and_rooms_it_missed(
    cluster: Cluster, api: Api, person_on: Callable[[AppProcess], Page]
) -> None:
    """Offline for less than NiceGUI's reconnect timeout the page stays as it is, and its socket joins again."""
    host = api.join("Night owl")
    room = api.create_room(host, "Night shift")
    reader = person_on(cluster.b)
    join(reader, "Gus")
    expect(room_link(reader, "Night shift")).to_be_visible()
    # socket.io waits up to seconds between tries; one that comes back within NiceGUI's reconnect timeout (3 s)
    # keeps the page, as after a short blip: make it try often, so the blip stays short whatever the backoff drew
    reader.evaluate("() => { window.__sameDocument = true; window.socket.io.reconnectionDelay(100); }")
    reader.evaluate("() => window.socket.io.reconnectionDelayMax(200)")

    reader.context.set_offline(True)
    reader.wait_for_function("() => !window.socket.connected")
    api.post(host, "While you were away, 1", room=room["id"])
    api.post(host, "While you were away, 2", room=room["id"])
    api.create_room(host, "Made while away")
    time.sleep(1.2)  # the counts and the new room went out meanwhile, to every tab but this one
    reader.context.set_offline(False)
    wait_connected(reader)

    expect(unread_badge(reader, "Night shift")).to_have_text("2")
    expect(room_link(reader, "Made while away")).to_be_visible()
    assert reader.evaluate("() => window.__sameDocument") is True, "the page was loaded again"
    api.post(host, "And once you were back", room=room["id"])
    expect(unread_badge(reader, "Night shift")).to_have_text("3")


def test_what_a_tab_shows_of_its_room_counts_as_read_in_the_sessions_other_tabs(
    cluster: Cluster, api: Api, person_on: Callable[[AppProcess], Page]
) -> None:
    host = api.join("Chatter")
    room = api.create_room(host, "Open tab")
    lobby_tab = person_on(cluster.a)
    join(lobby_tab, "Hana")
    room_tab = lobby_tab.context.new_page()
    room_tab.goto(room["path"])
    expect_chat(room_tab, "Hana")
    wait_connected(room_tab)

    api.post(host, "Seen in the room's own tab", room=room["id"])
    expect(message(room_tab, "Seen in the room's own tab")).to_have_count(1)
    time.sleep(1.5)  # the room list's counts have gone out: the lobby tab may count it for a moment
    # a tab marks what it shows at most every READ_MARK_SECONDS, and then also what came in between
    expect(unread_badge(lobby_tab, "Open tab")).to_have_count(0, timeout=(READ_MARK_SECONDS + 3) * 1000)
    lobby_tab.reload()
    expect_chat(lobby_tab, "Hana")
    expect(room_link(lobby_tab, "Open tab")).to_be_visible()
    expect(unread_badge(lobby_tab, "Open tab")).to_have_count(0)


def test_fast_typing_in_two_tabs_in_two_rooms_keeps_each_message_in_its_room(
    cluster: Cluster, api: Api, person_on: Callable[[AppProcess], Page]
) -> None:
    room = api.create_room(api.join("Typist host"), "Typing room")
    lobby_tab = person_on(cluster.b)
    join(lobby_tab, "Ivo")
    room_tab = lobby_tab.context.new_page()
    room_tab.goto(room["path"])
    expect_chat(room_tab, "Ivo")
    wait_connected(room_tab)

    sent: dict[str, list[str]] = {"lobby": [], "room": []}
    for i in range(8):  # back and forth between the tabs, Enter right after the last key
        for where, page in (("lobby", lobby_tab), ("room", room_tab)):
            text = f"{where} line {i}"
            message_box(page).click()
            page.keyboard.type(text, delay=5)
            page.keyboard.press("Enter")
            sent[where].append(text)
    room_tab.keyboard.type("half typed here")  # a draft of this room only

    for where, page in (("lobby", lobby_tab), ("room", room_tab)):
        expect(message(page, sent[where][-1])).to_have_count(1)
        texts = [text for author, text in shown_messages(page) if author == "Ivo"]
        assert texts == sent[where], f"the {where} tab shows {texts}"
    expect(message_box(lobby_tab)).to_have_value("")
    room_tab.reload()
    expect_chat(room_tab, "Ivo")
    assert [text for author, text in shown_messages(room_tab) if author == "Ivo"] == sent["room"]
    expect(message_box(room_tab)).to_have_value("half typed here")
    stored = [m["text"] for m in api.all_messages(room=room["id"]) if m["author"] == "Ivo"]
    assert stored == sent["room"]


def test_a_room_offline_for_longer_than_the_reconnect_timeout_comes_back_with_what_was_said(
    cluster: Cluster, api: Api, person_on: Callable[[AppProcess], Page]
) -> None:
    host = api.join("Talker")
    room = api.create_room(host, "Train talk")
    reader = person_on(cluster.a)
    reader.goto(room["path"])
    join(reader, "Jo")
    expect_room(reader, "Train talk", room["path"])
    wait_connected(reader)

    reader.context.set_offline(True)
    reader.wait_for_function("() => !window.socket.connected")
    message_box(reader).fill("typed in the tunnel")
    message_box(reader).press("Enter")  # offline: it stays in the box
    expect(message_box(reader)).to_have_value("typed in the tunnel")
    said = [api.post(host, f"Said while Jo was in the tunnel, {i}", room=room["id"])["text"] for i in range(3)]
    api.post(host, "Said in the lobby meanwhile")
    time.sleep(5)  # longer than NiceGUI keeps a page whose socket went: it loads the page again
    reader.context.set_offline(False)

    expect_chat(reader, "Jo")
    expect_room(reader, "Train talk", room["path"])
    for text in said:
        expect(message(reader, text)).to_have_count(1)
    expect(message(reader, "Said in the lobby meanwhile")).to_have_count(0)
    expect(unread_badge(reader, "Lobby")).to_have_text("1")
    expect(message_box(reader)).to_have_value("typed in the tunnel")
    message_box(reader).press("Enter")
    expect(message(reader, "typed in the tunnel")).to_have_count(1)
