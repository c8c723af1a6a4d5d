"""A restart storm, small: two processes behind nginx, 20 tabs, one process SIGKILLed while messages flow.

Eighteen tabs are protocol-level (bench/tab.py: the page, its socket and the chat panel's join, and what nicegui.js
does when the socket drops: reconnect, and reload the page when the server does not know it); two are real Chromium
pages on the process that dies, so the browser's own reconnect and reload are in the test too. Every tab must show
every stored message exactly once within 20 s of the kill. The full size is the bench's storm phase.
"""

from __future__ import annotations

import asyncio
import re
import signal
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import httpx
import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page

from bench.tab import Tab, TabSpec
from chat.cookies import COOKIE_NAME

from .chat_page import Api, join, shown_messages
from .conftest import Deployment
from .test_cluster import ROUTE_COOKIE
from .test_cluster import Cluster as Routes
from .test_rolling_restart import Sender

pytestmark = pytest.mark.e2e

WITHIN = 20.0
BROWSER_TABS = 2  # on the process that dies
PROTOCOL_TABS_PER_PROCESS = 9
T = TypeVar("T")


class Loop:
    """An event loop on a thread of its own, for the protocol-level tabs beside Playwright's synchronous API."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="protocol tabs", daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.loop.close()


async def open_tab(base_url: str, route: str, name: str) -> Tab:
    """A signed-in tab on the process ``route`` leads to: the sign-in cookie comes from the API, as Join sets it."""
    tab = Tab(name=name, spec=TabSpec(base_url=base_url, path="/", login=False, join=True, follow=True), route=route)
    async with httpx.AsyncClient(base_url=base_url, timeout=20) as http:
        headers = {"Cookie": f"{ROUTE_COOKIE}={route}"}
        token = (await http.post("/api/sessions", json={"name": name}, headers=headers)).json()["token"]
        signed = await http.post(
            "/api/session/cookie", json={"name": name}, headers={**headers, "Authorization": f"Bearer {token}"}
        )
        assert signed.status_code == 204, signed.text
        tab.cookie = f"{COOKIE_NAME}={signed.cookies[COOKIE_NAME]}"
        await tab.open(http, wait=20)
    return tab


def browser_texts(page: Page, author: str) -> list[str]:
    """What the page shows of ``author`` once its socket is up (it may be reloading: then ask again)."""
    for _ in range(3):
        try:
            page.wait_for_function("() => window.socket && window.socket.connected", polling=200, timeout=20_000)
            return [text for who, text in shown_messages(page) if who == author]
        except PlaywrightError:
            time.sleep(0.5)
    raise AssertionError(f"a browser tab never got its socket back: {page.url} {page.title()!r}")


def test_every_tab_of_a_killed_process_is_back_with_every_message_once_within_20_s(
    deployment: Deployment,
    new_person: Callable[[str], Page],
    record_property: Callable[[str, object], None],
) -> None:
    a, b = deployment.start("stormA", "stormB")
    nginx = deployment.start_nginx([a, b])
    routes = Routes(a=a, b=b, nginx=nginx)
    to_a, to_b = routes.route_to(a), routes.route_to(b)

    browsers = []
    for i in range(BROWSER_TABS):
        page = new_person(nginx.base_url)
        page.context.add_cookies([{"name": ROUTE_COOKIE, "value": to_a, "url": nginx.base_url}])
        join(page, f"Browser {i}")
        browsers.append(page)
    loop = Loop()
    tabs: list[Tab] = []
    try:
        run_id = uuid.uuid4().hex[:4]

        async def open_all() -> list[Tab]:
            per_process = range(PROTOCOL_TABS_PER_PROCESS)
            places = [(which, route, i) for which, route in (("a", to_a), ("b", to_b)) for i in per_process]
            return await asyncio.gather(*(open_tab(nginx.base_url, r, f"Tab {w}{i} {run_id}") for w, r, i in places))

        tabs += loop.run(open_all())
        assert len(tabs) + len(browsers) == 20
        author = f"Storm {run_id}"
        pattern = re.compile(rf'"key":\s*"(?P<key>[^"]+)"[^{{}}]*?{author} #(?P<number>\d+)')
        for tab in tabs:
            tab.pattern = pattern  # read on the loop's thread only when a frame comes: no lock needed

        stop = threading.Event()
        sender = Sender(author, nginx.base_url, stop)
        sending = threading.Thread(target=sender.run, name="sender")
        sending.start()
        try:
            time.sleep(3)
            a.stop(signal.SIGKILL, check=False)
            deployment.apps.remove(a)  # it had no shutdown to check
            killed = time.monotonic()
            time.sleep(5)  # messages keep coming while the tabs move
        finally:
            stop.set()
            sending.join(timeout=60)
        assert not sender.failures, sender.failures

        api = Api(nginx.base_url)
        try:
            stored = [m["text"] for m in api.all_messages() if m["author"] == author]
        finally:
            api.close()
        assert sorted(stored) == sorted(sender.sent), "the store does not hold exactly what the sender was told"
        numbers = {int(text.rsplit("#", 1)[1]) for text in stored}

        def complete() -> bool:
            return all(numbers <= set(tab.seen) for tab in tabs) and all(
                sorted(browser_texts(page, author)) == sorted(stored) for page in browsers
            )

        while not complete() and time.monotonic() < killed + WITHIN:
            time.sleep(0.5)
        took = time.monotonic() - killed
        record_property("restart_storm_seconds", round(took, 1))

        orphans = [tab for tab in tabs if tab.route == to_a]
        assert all(tab.reloads and tab.reloads[-1][0] > killed for tab in orphans), "an orphaned tab did not reload"
        lost = {tab.name: sorted(numbers - set(tab.seen)) for tab in tabs if numbers - set(tab.seen)}
        twice = {tab.name: [n for n, keys in tab.keys.items() if len(keys) > 1] for tab in tabs}
        assert not lost, f"{len(stored)} stored; tabs lacking some after {took:.1f} s: {lost}"
        assert not any(twice.values()), f"messages shown twice: {twice}"
        for page in browsers:
            shown = browser_texts(page, author)
            assert sorted(shown) == sorted(stored), f"a browser tab shows {len(shown)} of {len(stored)} (or some twice)"
        assert took <= WITHIN, f"every tab had every message only {took:.1f} s after the kill"
    finally:
        for tab in tabs:
            loop.run(tab.close())
        loop.stop()
