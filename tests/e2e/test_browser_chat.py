"""One app process, several people in real browser profiles: live messages, sessions, tabs, hostile input."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, expect

from chat.errors import InvalidName
from chat.names import check_name

from .chat_page import (
    Api,
    Latency,
    expect_chat,
    expect_login,
    join,
    message,
    name_input,
    open_login,
    send,
    shown_keys,
    shown_messages,
    unread_badge,
    wait_connected,
)
from .conftest import Deployment, screenshot
from .processes import AppProcess

pytestmark = pytest.mark.e2e

HOSTILE = [
    "<img src=x onerror=window.__pwned=1>",
    "<script>window.__pwned=1</script>",
    "[x](javascript:window.__pwned=1)",
]


@pytest.fixture(scope="module")
def app(deployment: Deployment) -> AppProcess:
    (app,) = deployment.start("app")
    return app


@pytest.fixture
def api(app: AppProcess) -> Iterator[Api]:
    api = Api(app.base_url)
    yield api
    api.close()


def test_two_people_see_each_others_messages_live(
    app: AppProcess, api: Api, new_person: Callable[[str], Page], record_property: Callable[[str, object], None]
) -> None:
    host = api.join("Host")
    for name in ("Book club", "Game night", "Release"):
        api.create_room(host, name)
    alice, bob = new_person(app.base_url), new_person(app.base_url)
    open_login(alice)
    screenshot(alice, "login")
    join(alice, "Alice")
    join(bob, "Bob", press_enter=True)

    latency = Latency()
    conversation = [
        (alice, bob, "Hi Bob! Did the release go out?"),
        (bob, alice, "Yes, about ten minutes ago."),
        (alice, bob, "Great. Any problems so far?"),
        (bob, alice, "None. The new history paging works nicely."),
        (alice, bob, "Then I'll write the announcement."),
        (bob, alice, "Thanks, Alice!"),
    ]
    for i, (sender, reader, text) in enumerate(conversation):
        took = latency.measure(sender, reader, text, press_enter=i % 2 == 0)  # Enter and the Send button
        assert took < 5_000, f"{text!r} took {took:.0f} ms to arrive"
        expect(message(sender, text)).to_have_count(1)  # the sender's own copy ends up stored, not pending

    texts = [text for _, _, text in conversation]
    assert [t for _, t in shown_messages(alice)] == texts
    assert shown_messages(bob) == shown_messages(alice)
    expect(alice.locator(".sc-msg.sc-own")).to_have_count(3)
    expect(bob.locator(".sc-msg.sc-own")).to_have_count(3)
    print(f"\nSend-to-seen, one process: {latency.summary()}")
    record_property("send_to_seen_ms", [round(s) for s in latency.samples])

    # meanwhile in another room: the lobby's readers see how much, in the room list
    for text in ("Who brings the dice?", "I do!", "Starting at eight."):
        api.post(host, text, room="game night")
    for page in (alice, bob):
        expect(unread_badge(page, "Game night")).to_have_text("3")
        expect(unread_badge(page, "Book club")).to_have_count(0)
        expect(message(page, "I do!")).to_have_count(0)
    screenshot(alice, "chat")


def test_someone_joining_later_sees_the_history(app: AppProcess, api: Api, new_person: Callable[[str], Page]) -> None:
    erin, frank = api.join("Erin"), api.join("Frank")
    api.post(erin, "Morning! Stand-up in five minutes.")
    api.post(frank, "On my way.")
    api.post(erin, "Agenda: the release, then the on-call rota.")
    stored, _ = api.page()  # the newest page, as the chat view loads it

    carol = new_person(app.base_url)
    join(carol, "Carol")
    assert shown_keys(carol) == [m["key"] for m in stored]
    assert shown_messages(carol) == [(m["author"], m["text"]) for m in stored]
    assert shown_messages(carol)[-3:] == [
        ("Erin", "Morning! Stand-up in five minutes."),
        ("Frank", "On my way."),
        ("Erin", "Agenda: the release, then the on-call rota."),
    ]


def test_logout_in_one_tab_logs_out_every_tab_and_frees_the_name(
    app: AppProcess, new_person: Callable[[str], Page]
) -> None:
    first_tab = new_person(app.base_url)
    join(first_tab, "Dana")
    second_tab = first_tab.context.new_page()
    second_tab.goto("/")
    expect_chat(second_tab, "Dana")  # same browser: already signed in
    first_tab.reload()
    expect_chat(first_tab, "Dana")

    second_tab.get_by_role("button", name="Log out").click()
    expect_login(second_tab)
    expect_login(first_tab, timeout=5_000)  # no reload: the session's end reaches every tab
    first_tab.reload()
    expect_login(first_tab)

    someone_else = new_person(app.base_url)
    join(someone_else, "Dana")


def test_reload_keeps_the_session(app: AppProcess, new_person: Callable[[str], Page]) -> None:
    page = new_person(app.base_url)
    join(page, "Gina")
    send(page, "Still here after a reload?")
    expect(message(page, "Still here after a reload?")).to_have_count(1)
    page.reload()
    expect_chat(page, "Gina")
    expect(message(page, "Still here after a reload?")).to_have_count(1)
    send(page, "Yes.")  # and the session still works
    expect(message(page, "Yes.")).to_have_count(1)


def test_hostile_text_is_shown_literally_and_hostile_names_are_refused(
    app: AppProcess, new_person: Callable[[str], Page]
) -> None:
    writer, reader = new_person(app.base_url), new_person(app.base_url)
    join(writer, "Hal")
    join(reader, "Ivy")
    for text in HOSTILE:
        send(writer, text)
        for page in (writer, reader):
            expect(message(page, text)).to_have_count(1)
            assert message(page, text).locator(".sc-text").text_content() == text
    for page in (writer, reader):
        page.reload()  # the history path renders them too
        wait_connected(page)
        for text in HOSTILE:
            assert message(page, text).locator(".sc-text").text_content() == text
        assert page.locator(".sc-list img, .sc-list script, .sc-list a").count() == 0
        assert page.evaluate("() => window.__pwned") is None

    stranger = new_person(app.base_url)
    open_login(stranger)
    for name in HOSTILE:
        with pytest.raises(InvalidName) as refusal:
            check_name(name)
        name_input(stranger).fill(name)
        name_input(stranger).press("Enter")
        expect(stranger.get_by_text(refusal.value.message, exact=True)).to_be_visible()
        expect(name_input(stranger)).to_have_value(name)
    expect_login(stranger)
    assert stranger.locator("img[src='x'], .q-card script").count() == 0
    assert stranger.evaluate("() => window.__pwned") is None
