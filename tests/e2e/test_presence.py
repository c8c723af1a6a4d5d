"""Who is here and who is typing, in real browsers, through two app processes behind nginx.

People find these by what a screen reader announces: the list labelled "Online", the typing line ("Ana is typing…"),
and the listbox of people the message box offers after an "@".
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from playwright.sync_api import Locator, Page, expect

from .chat_page import join, message, message_box, send
from .processes import AppProcess
from .test_cluster import Cluster
from .test_rooms import cluster, person_on, routes  # noqa: F401 (the same deployment's fixtures)

pytestmark = pytest.mark.e2e

ONLINE_WITHIN = 3.0
TYPING_WITHIN = 1.5


def online(page: Page) -> Locator:
    return page.get_by_role("list", name="Online")


def online_names(page: Page) -> Locator:
    return online(page).get_by_role("listitem")


def typing_line(page: Page) -> Locator:
    return page.locator(".sc-typing")


def test_the_online_list_follows_people_who_open_and_close_the_room_on_the_other_process(
    cluster: Cluster,  # noqa: F811
    person_on: Callable[[AppProcess], Page],  # noqa: F811
    record_property: Callable[[str, object], None],
) -> None:
    # the first test of the module: nobody else is in the lobby yet
    hal = person_on(cluster.a)
    join(hal, "Hal")
    expect(online_names(hal)).to_have_text(["Hal"])
    ivy = person_on(cluster.b)
    started = time.monotonic()
    join(ivy, "Ivy")
    expect(online_names(hal)).to_have_text(["Hal", "Ivy"], timeout=ONLINE_WITHIN * 1000)
    record_property("online_seconds", round(time.monotonic() - started, 3))
    expect(online_names(ivy)).to_have_text(["Hal", "Ivy"])
    second_tab = ivy.context.new_page()  # one entry per person, however many tabs
    second_tab.goto("/")
    expect(online_names(second_tab)).to_have_text(["Hal", "Ivy"])
    second_tab.close()
    time.sleep(1.5)
    expect(online_names(hal)).to_have_text(["Hal", "Ivy"])
    started = time.monotonic()
    ivy.close()
    expect(online_names(hal)).to_have_text(["Hal"], timeout=ONLINE_WITHIN * 1000)
    record_property("offline_seconds", round(time.monotonic() - started, 3))


def test_typing_shows_in_the_other_browsers_and_goes_with_the_message(
    cluster: Cluster,  # noqa: F811
    person_on: Callable[[AppProcess], Page],  # noqa: F811
) -> None:
    ana, bo, cy, uma = (person_on(process) for process in (cluster.a, cluster.a, cluster.b, cluster.b))
    for page, name in ((ana, "Ana"), (bo, "Bo"), (cy, "Cy"), (uma, "Uma")):
        join(page, name)
    message_box(ana).press_sequentially("hel")
    expect(typing_line(cy)).to_have_text("Ana is typing…", timeout=TYPING_WITHIN * 1000)
    expect(typing_line(bo)).to_have_text("Ana is typing…")
    expect(typing_line(ana)).to_have_text("")  # never oneself
    message_box(bo).press_sequentially("ok")
    expect(typing_line(cy)).to_have_text("Ana and Bo are typing…", timeout=TYPING_WITHIN * 1000)
    expect(typing_line(ana)).to_have_text("Bo is typing…")
    message_box(uma).press_sequentially("so")
    expect(typing_line(cy)).to_have_text("Several people are typing…", timeout=TYPING_WITHIN * 1000)
    expect(typing_line(ana)).to_have_text("Bo and Uma are typing…")
    message_box(ana).press_sequentially("lo")
    message_box(ana).press("Enter")
    expect(message(cy, "hello")).to_have_count(1)
    expect(typing_line(cy)).to_have_text("Bo and Uma are typing…", timeout=1000)
    # Bo and Uma stopped typing: gone within 6 s, with nobody sending anything
    expect(typing_line(cy)).to_have_text("", timeout=6000)
    expect(typing_line(ana)).to_have_text("")


# counts the typing events the page sends to the server from now on, in window.typingSaid; answers how many of the
# page's elements listen for "typing" (the message box: one)
COUNT_TYPING_EVENTS = """() => {
  const listeners = new Set();
  for (const element of Object.values(mounted_app.elements))
    for (const event of element.events || []) if (event.type === "typing") listeners.add(event.listener_id);
  window.typingSaid = 0;
  const emit = window.socket.emit.bind(window.socket);
  window.socket.emit = (name, data, ...rest) => {
    if (name === "event" && listeners.has(data?.listener_id)) window.typingSaid += 1;
    return emit(name, data, ...rest);
  };
  return listeners.size;
}"""


def test_a_typist_says_typing_at_most_once_every_3_seconds(
    cluster: Cluster,  # noqa: F811
    person_on: Callable[[AppProcess], Page],  # noqa: F811
) -> None:
    fay = person_on(cluster.a)
    join(fay, "Fay")
    assert fay.evaluate(COUNT_TYPING_EVENTS) == 1
    box = message_box(fay)
    started = time.monotonic()
    while time.monotonic() - started < 7.0:  # ten keys a second for 7 to 8 s
        box.press_sequentially("abcdefghij", delay=100)
    # said at the first key, after 3 s and after 6 s
    assert fay.evaluate("() => window.typingSaid") == 3


def test_an_at_suggests_the_people_online_and_inserts_the_one_picked(
    cluster: Cluster,  # noqa: F811
    person_on: Callable[[AppProcess], Page],  # noqa: F811
) -> None:
    dee, eve, ed = person_on(cluster.a), person_on(cluster.b), person_on(cluster.b)
    for page, name in ((dee, "Dee"), (eve, "Eve"), (ed, "Edd")):
        join(page, name)
    expect(online(dee).get_by_text("Edd")).to_be_visible(timeout=ONLINE_WITHIN * 1000)
    box = message_box(dee)
    box.press_sequentially("hi @e")
    people = dee.get_by_role("listbox", name="People online")
    expect(people.get_by_role("option")).to_have_text(["Edd", "Eve"])
    expect(people.get_by_role("option", name="Edd")).to_have_attribute("aria-selected", "true")
    message_box(eve).press_sequentially("typing")
    expect(typing_line(dee)).to_have_text("Eve is typing…")
    box.press("ArrowDown")
    expect(people.get_by_role("option", name="Eve")).to_have_attribute("aria-selected", "true")
    box.press("Enter")  # picks, does not send
    expect(box).to_have_value("hi @Eve ")
    expect(people).to_have_count(0)
    box.press_sequentially("and @")
    expect(people.get_by_role("option")).to_have_count(2)
    box.press("Escape")
    expect(people).to_have_count(0)
    box.press("Backspace")
    box.press_sequentially("@E")
    people.get_by_role("option", name="Edd").click()
    expect(box).to_have_value("hi @Eve and @Edd ")
    send(dee, "see you @Eve!")  # Enter sends again once nobody is suggested
    expect(message(eve, "see you @Eve!")).to_have_count(1)


def test_on_a_narrow_screen_the_online_list_is_behind_the_rooms_menu_and_long_lists_are_cut(
    cluster: Cluster,  # noqa: F811
    person_on: Callable[[AppProcess], Page],  # noqa: F811
) -> None:
    page = person_on(cluster.b)
    page.set_viewport_size({"width": 375, "height": 740})
    join(page, "Kim")
    expect(online(page)).to_be_hidden()
    page.get_by_role("button", name="Rooms").click()
    expect(online(page)).to_be_visible()
    expect(online(page).get_by_text("Kim", exact=True)).to_be_in_viewport()
    # a crowd, as the room's emit would bring it: the first 50 by name, then how many more
    page.evaluate(
        """() => {
            const add = Array.from({ length: 60 }, (_, i) => ["x" + i, "Zed " + String(i).padStart(2, "0")]);
            window.socket.listeners("sinchchat_presence").forEach((take) => take({ add, gone: [] }));
        }"""
    )
    expect(online_names(page)).to_have_count(51)
    expect(online_names(page).first).to_have_text("Kim")
    expect(online_names(page).nth(49)).to_have_text("Zed 48")
    expect(online_names(page).last).to_have_text("and 11 more")
