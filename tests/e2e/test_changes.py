"""Edit, delete and react in a real browser, through two app processes behind the repo's nginx: live in a reader's
tab on the other process, kept after a reload, and caught up by a tab that was offline while they happened.

People find things by what a screen reader announces: "Message actions", "Edit", "Delete", "Delete message?",
"Editing message", "(edited)", "This message was deleted.", "Add reaction", and reaction buttons named "👍 1"
with aria-pressed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Locator, Page, expect

from chat.models import REACTIONS, new_message_key

from .chat_page import Api, expect_chat, join, message, message_box, send, wait_connected
from .conftest import Deployment, screenshot
from .processes import AppProcess
from .test_cluster import ROUTE_COOKIE, Cluster

pytestmark = pytest.mark.e2e

THUMBS, HEART = REACTIONS[0], REACTIONS[1]


@pytest.fixture(scope="module")
def cluster(deployment: Deployment) -> Cluster:
    a, b = deployment.start("app_a", "app_b")
    return Cluster(a=a, b=b, nginx=deployment.start_nginx([a, b]))


@pytest.fixture
def person_on(cluster: Cluster, new_person: Callable[[str], Page]) -> Callable[[AppProcess], Page]:
    """``person_on(app)``: a new browser at nginx's address whose requests nginx sends to ``app``."""
    routes = {app.name: cluster.route_to(app) for app in (cluster.a, cluster.b)}

    def make(app: AppProcess) -> Page:
        page = new_person(cluster.nginx.base_url)
        page.context.add_cookies([{"name": ROUTE_COOKIE, "value": routes[app.name], "url": cluster.nginx.base_url}])
        return page

    return make


def deleted(page: Page) -> Locator:
    return page.locator(".sc-msg").filter(has=page.get_by_text("This message was deleted.", exact=True))


def actions(page: Page, text: str) -> Locator:
    return message(page, text).get_by_role("button", name="Message actions")


def reaction(page: Page, text: str, name: str) -> Locator:
    return message(page, text).get_by_role("button", name=name, exact=True)


def react(page: Page, text: str, emoji: str) -> None:
    message(page, text).get_by_role("button", name="Add reaction").click()
    message(page, text).get_by_role("button", name=emoji, exact=True).click()


def test_edit_delete_and_react_show_live_on_the_other_process_and_stay_after_a_reload(
    cluster: Cluster, person_on: Callable[[AppProcess], Page]
) -> None:
    ann, bo = person_on(cluster.a), person_on(cluster.b)
    join(ann, "Ann")
    join(bo, "Bo")
    send(ann, "first draft")
    send(ann, "to be deleted")
    expect(message(bo, "to be deleted")).to_be_visible()
    expect(actions(bo, "first draft")).to_have_count(0)  # only on one's own messages

    # Edit through the menu: the composer edits, Enter saves
    actions(ann, "first draft").click()
    ann.get_by_role("menuitem", name="Edit").click()
    expect(ann.get_by_text("Editing message")).to_be_visible()
    expect(message_box(ann)).to_have_value("first draft")
    message_box(ann).fill("")
    message_box(ann).press("Enter")
    expect(ann.get_by_text("A message cannot be empty.")).to_be_visible()  # refused: still editing, with why
    expect(ann.get_by_text("Editing message")).to_be_visible()
    message_box(ann).fill("final text")
    message_box(ann).press("Enter")
    expect(ann.get_by_text("Editing message")).to_have_count(0)
    for page in (ann, bo):
        expect(message(page, "final text").get_by_text("(edited)")).to_be_visible()
    expect(message(bo, "first draft")).to_have_count(0)

    # Delete asks once more
    actions(ann, "to be deleted").click()
    ann.get_by_role("menuitem", name="Delete", exact=True).click()
    ann.get_by_role("menuitem", name="Delete message?").click()
    for page in (ann, bo):
        expect(deleted(page)).to_have_count(1)
        expect(message(page, "to be deleted")).to_have_count(0)
    expect(deleted(ann).get_by_role("button", name="Message actions")).to_have_count(0)
    expect(deleted(bo).get_by_role("button", name="Add reaction")).to_have_count(0)

    # React, and toggle
    react(bo, "final text", THUMBS)
    expect(reaction(bo, "final text", f"{THUMBS} 1")).to_have_attribute("aria-pressed", "true")
    expect(reaction(ann, "final text", f"{THUMBS} 1")).to_have_attribute("aria-pressed", "false")
    reaction(ann, "final text", f"{THUMBS} 1").click()
    expect(reaction(bo, "final text", f"{THUMBS} 2")).to_be_visible()
    expect(reaction(ann, "final text", f"{THUMBS} 2")).to_have_attribute("aria-pressed", "true")
    reaction(bo, "final text", f"{THUMBS} 2").click()
    expect(reaction(ann, "final text", f"{THUMBS} 1")).to_be_visible()
    expect(reaction(bo, "final text", f"{THUMBS} 1")).to_have_attribute("aria-pressed", "false")
    actions(ann, "final text").click()
    screenshot(ann, "changes")
    ann.keyboard.press("Escape")  # the menu folds away
    expect(ann.get_by_role("menuitem", name="Edit")).to_have_count(0)

    bo.reload()
    expect_chat(bo, "Bo")
    expect(message(bo, "final text").get_by_text("(edited)")).to_be_visible()
    expect(reaction(bo, "final text", f"{THUMBS} 1")).to_have_attribute("aria-pressed", "false")
    expect(deleted(bo)).to_have_count(1)


def test_up_arrow_edits_the_last_message_and_escape_cancels(
    cluster: Cluster, person_on: Callable[[AppProcess], Page]
) -> None:
    cy = person_on(cluster.a)
    join(cy, "Cy")
    send(cy, "older one")
    send(cy, "newest one")
    expect(message(cy, "newest one")).to_be_visible()  # stored: a message still sending cannot be edited yet
    box = message_box(cy)
    box.press("ArrowUp")
    expect(cy.get_by_text("Editing message")).to_be_visible()
    expect(box).to_have_value("newest one")
    box.fill("changed, then cancelled")
    box.press("Escape")
    expect(cy.get_by_text("Editing message")).to_have_count(0)
    expect(box).to_have_value("")
    expect(message(cy, "newest one")).to_be_visible()
    box.press("ArrowUp")
    box.press("Enter")  # unchanged: just leaves edit mode
    expect(cy.get_by_text("Editing message")).to_have_count(0)
    expect(message(cy, "newest one").get_by_text("(edited)")).to_have_count(0)
    box.press("ArrowUp")
    box.fill("newest one, fixed")
    box.press("Enter")
    expect(message(cy, "newest one, fixed").get_by_text("(edited)")).to_be_visible()


def plant_old(deployment: Deployment, author_id: str, texts: list[str], *, room: str) -> None:
    """Store messages of ``author_id`` in ``room`` two minutes old: older than any overlap a returning tab's join
    reads back, so only the changes it asks for bring what happened to them. Unannounced and older than what the
    periodic catch-up reads: only a process that reads the room's first page after this shows them (one that
    already shows the room serves its first page from memory)."""
    with deployment.dynamodb() as client:
        for i, text in enumerate(texts):
            key = new_message_key(datetime.now(UTC) - timedelta(minutes=2, seconds=-i))
            client.put_item(
                TableName=f"{deployment.prefix}Messages",
                Item={
                    "PartitionKey": {"S": room},
                    "CreatedAt": {"S": key},
                    "UserName": {"S": "Dee"},
                    "DisplayName": {"S": "Dee"},
                    "AuthorId": {"S": author_id},
                    "Text": {"S": text},
                },
            )


def test_a_tab_offline_while_messages_change_shows_every_change_when_it_is_back(
    cluster: Cluster, deployment: Deployment, person_on: Callable[[AppProcess], Page]
) -> None:
    dee, eli = person_on(cluster.a), person_on(cluster.b)
    join(dee, "Dee")
    send(dee, "Dee is here")
    api = Api(cluster.nginx.base_url)
    try:
        (author_id,) = {m["author_id"] for m in api.all_messages() if m["text"] == "Dee is here"}
        room = api.create_room(api.join("Host"), "Changes")  # a room neither process shows yet
    finally:
        api.close()
    plant_old(deployment, author_id, ["will be edited", "will be deleted", "will get a heart"], room=room["id"])
    dee.goto(room["path"])
    expect_chat(dee, "Dee")
    join(eli, "Eli")
    eli.goto(room["path"])
    expect_chat(eli, "Eli")
    for page in (dee, eli):
        expect(message(page, "will get a heart")).to_be_visible()

    eli.context.set_offline(True)
    eli.wait_for_function("() => !window.socket.connected", timeout=30_000)
    actions(dee, "will be edited").click()
    dee.get_by_role("menuitem", name="Edit").click()
    message_box(dee).fill("edited while Eli was away")
    message_box(dee).press("Enter")
    actions(dee, "will be deleted").click()
    dee.get_by_role("menuitem", name="Delete", exact=True).click()
    dee.get_by_role("menuitem", name="Delete message?").click()
    react(dee, "will get a heart", HEART)
    expect(reaction(dee, "will get a heart", f"{HEART} 1")).to_be_visible()
    expect(message(eli, "will be edited")).to_be_visible()  # nothing reached the offline tab

    eli.context.set_offline(False)
    wait_connected(eli)
    expect(message(eli, "edited while Eli was away").get_by_text("(edited)")).to_be_visible(timeout=15_000)
    expect(deleted(eli)).not_to_have_count(0)
    expect(message(eli, "will be deleted")).to_have_count(0)
    expect(reaction(eli, "will get a heart", f"{HEART} 1")).to_have_attribute("aria-pressed", "false")
    expect(message(eli, "will be edited")).to_have_count(0)
