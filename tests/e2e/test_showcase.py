"""One conversation with everything in it, through two processes behind nginx: formatting, reactions, a mention, the
Online list and someone typing, in light and in dark mode. It is also where the README's pictures come from
(``SINCHCHAT_SCREENSHOTS=1``, see scripts/screenshots.sh)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Locator, Page, expect

from .chat_page import join, message_box, send
from .conftest import screenshot
from .processes import AppProcess
from .test_cluster import Cluster
from .test_rooms import cluster, person_on, routes  # noqa: F401 (the same deployment's fixtures)

pytestmark = pytest.mark.e2e

FIRST = "Has anyone tried the **new build**? Notes: https://example.com/notes"
SECOND = "Yes! Two things:\n- start-up is *much* faster\n- `--native` runs under Xvfb"
THIRD = "> start-up is much faster\n\n@Bo confirmed, twice as fast here"


def bubble(page: Page, contains: str) -> Locator:
    return page.locator(".sc-msg", has_text=contains)


def react(page: Page, contains: str, emoji: str) -> None:
    bubble(page, contains).get_by_role("button", name="Add reaction").click()
    page.get_by_role("button", name=emoji, exact=True).click()


def keep_typing(page: Page, other: Page, name: str) -> None:
    """``page`` types a little (the composer says so at most every 3 s) until ``other`` shows it typing."""
    message_box(page).press_sequentially("so", delay=80)
    expect(other.locator(".sc-typing")).to_have_text(f"{name} is typing…", timeout=3000)


def test_a_conversation_with_formatting_reactions_presence_and_typing_in_light_and_dark(
    cluster: Cluster,  # noqa: F811
    person_on: Callable[[AppProcess], Page],  # noqa: F811
) -> None:
    ana = person_on(cluster.a)
    join(ana, "Ana")
    bo = person_on(cluster.b)
    join(bo, "Bo")

    send(ana, FIRST)
    send(bo, SECOND)
    send(ana, THIRD)
    first, second, third = (bubble(ana, text) for text in ("Has anyone tried", "Two things", "confirmed"))
    expect(first.locator("strong")).to_have_text("new build")
    link = first.get_by_role("link", name="https://example.com/notes")
    expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    expect(link).to_have_attribute("target", "_blank")
    expect(second.locator("li")).to_have_count(2)
    expect(second.locator("code")).to_have_text("--native")
    expect(third.locator("blockquote")).to_contain_text("start-up is much faster")
    expect(bubble(bo, "confirmed")).to_have_class(re.compile(r"\bsc-mention\b"))  # Bo is mentioned

    react(bo, "Has anyone tried", "👍")
    react(ana, "Has anyone tried", "👍")
    react(ana, "Two things", "🎉")
    expect(first.get_by_role("button", name="👍 2")).to_have_attribute("aria-pressed", "true")
    expect(second.get_by_role("button", name="🎉 1")).to_be_visible()
    expect(bubble(bo, "Has anyone tried").get_by_role("button", name="👍 2")).to_be_visible()

    cy = person_on(cluster.a)
    join(cy, "Cy")
    expect(ana.get_by_role("list", name="Online").get_by_role("listitem")).to_have_text(["Ana", "Bo", "Cy"])
    ana.mouse.click(5, 5)  # nothing hovered or open in the pictures
    keep_typing(cy, ana, "Cy")
    screenshot(ana, "conversation")

    dark = ana.get_by_role("button", name="Dark mode")
    dark.click()
    expect(dark).to_have_attribute("aria-pressed", "true")
    expect(ana.locator("body")).to_have_class(re.compile(r"\bbody--dark\b"))
    keep_typing(cy, ana, "Cy")
    screenshot(ana, "conversation-dark")
