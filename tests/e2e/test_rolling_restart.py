"""A rolling restart under load: two processes behind nginx, three API senders, 20 browser tabs listening.

Each process in turn gets SIGTERM, must exit within 10 s with its tabs open, and is started again on the same
port; the next one is restarted once it is ready. Tabs of a stopping process reconnect through nginx to the other
one at once (the process closes their websockets with 1012), so their page reloads there; the others stay put.
Every tab must end with every message that was stored: 0 lost, 0 duplicated, 0 out of order.

A page reloaded on the other process stays signed in through its signed sign-in cookie.
"""

from __future__ import annotations

import contextlib
import secrets
import signal
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page

from tests.helpers import wait_until

from .chat_page import Api, join, shown_messages
from .conftest import Deployment
from .processes import AppProcess, NginxProcess
from .test_cluster import ROUTE_COOKIE
from .test_cluster import Cluster as Routes

pytestmark = pytest.mark.e2e

PEOPLE_PER_PROCESS = 5
TABS_PER_PERSON = 2
SENDERS = 3
SEND_INTERVAL = 0.25
MAX_PER_SENDER = 80  # with 3 senders, fewer than a page (CHAT_PAGE_SIZE below): a reloaded tab shows them all
EXIT_WITHIN = 10.0


@dataclass
class Sender:
    """Posts numbered messages through nginx until told to stop; a failed attempt is retried with the same nonce,
    so a post whose answer was lost in the restart is stored once."""

    name: str
    base_url: str
    stop: threading.Event
    sent: list[str] = field(default_factory=list)
    retried: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)

    def run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=5) as client:
            token = client.post("/api/sessions", json={"name": self.name}).json()["token"]
            headers = {"Authorization": f"Bearer {token}"}
            for number in range(MAX_PER_SENDER):
                if self.stop.is_set():
                    return
                text = f"{self.name} #{number:03d}"
                body = {"text": text, "nonce": secrets.token_urlsafe(16)}
                deadline = time.monotonic() + 30
                while True:
                    try:
                        status = client.post("/api/messages", json=body, headers=headers).status_code
                    except httpx.TransportError as exc:
                        status = f"{type(exc).__name__}"
                    if status == 201:
                        self.sent.append(text)
                        break
                    if time.monotonic() > deadline:
                        self.failures.append(f"{text}: {status}")
                        return
                    self.retried.add(text)
                    time.sleep(0.2)
                time.sleep(SEND_INTERVAL)


@dataclass
class Stop:
    name: str
    seconds: float
    code: int


def restart(deployment: Deployment, app: AppProcess, generation: int) -> tuple[AppProcess, Stop]:
    """SIGTERM, wait for the exit (it must need no other signal), start it again on its port, wait until ready."""
    started = time.monotonic()
    code = app.stop(signal.SIGTERM, grace=EXIT_WITHIN + 5)
    stop = Stop(app.name, time.monotonic() - started, code)
    assert app.stopped_by == "SIGTERM", f"{app.name} needed {app.stopped_by} to stop:\n{app.log_tail()}"
    errors = app.error_lines()
    assert not errors, f"{app.name} logged while stopping: {errors}"
    deployment.apps.remove(app)
    again = AppProcess(name=f"{app.name.split('-')[0]}-{generation}", env=app.env, log_dir=deployment.log_dir)
    deployment.apps.append(again)
    again.wait_ready()
    return again, stop


def test_a_rolling_restart_loses_duplicates_and_reorders_nothing(
    deployment: Deployment,
    new_person: Callable[[str], Page],
    record_property: Callable[[str, object], None],
) -> None:
    a, b = deployment.start("appA", "appB", page_size="300", view_max_messages="400")
    nginx: NginxProcess = deployment.start_nginx([a, b])
    routes = Routes(a=a, b=b, nginx=nginx)

    tabs: list[tuple[str, Page]] = []
    for app in (a, b):
        for person in range(PEOPLE_PER_PROCESS):
            first = new_person(nginx.base_url)
            route = routes.route_to(app)
            first.context.add_cookies([{"name": ROUTE_COOKIE, "value": route, "url": nginx.base_url}])
            name = f"Reader {app.name} {person}"
            join(first, name)
            tabs.append((name, first))
            for _ in range(TABS_PER_PERSON - 1):
                more = first.context.new_page()
                more.goto("/")
                more.wait_for_function("() => window.socket && window.socket.connected")
                tabs.append((name, more))
    assert len(tabs) == 2 * PEOPLE_PER_PROCESS * TABS_PER_PERSON == 20

    stop_sending = threading.Event()
    run_id = uuid.uuid4().hex[:4]
    senders = [Sender(f"Sender {i} {run_id}", nginx.base_url, stop_sending) for i in range(SENDERS)]
    threads = [threading.Thread(target=s.run, name=s.name) for s in senders]
    for thread in threads:
        thread.start()
    stops: list[Stop] = []
    try:
        time.sleep(2)
        a, stopped = restart(deployment, a, 2)
        stops.append(stopped)
        time.sleep(2)
        b, stopped = restart(deployment, b, 2)
        stops.append(stopped)
        time.sleep(2)
    finally:
        stop_sending.set()
        for thread in threads:
            thread.join(timeout=60)
    for stopped in stops:
        assert stopped.seconds < EXIT_WITHIN, f"{stopped.name} took {stopped.seconds:.1f} s to exit"
        # uvicorn re-raises the signal once it has shut down gracefully
        assert stopped.code in (0, -signal.SIGTERM, 128 + signal.SIGTERM), f"{stopped.name} exited with {stopped.code}"
    assert not [f for s in senders for f in s.failures], [s.failures for s in senders]

    api = Api(nginx.base_url)
    try:
        stored = [m["text"] for m in api.all_messages() if m["author"].startswith("Sender ")]
    finally:
        api.close()
    sent = sorted(text for s in senders for text in s.sent)
    assert sorted(stored) == sent, "the store does not hold exactly what the senders were told was stored"
    assert len(stored) >= 40, f"only {len(stored)} messages: the restarts did not happen under load"

    def texts(page: Page) -> list[str]:
        """What the tab shows once it is connected again (a tab of a restarted process may still be reloading)."""
        for _ in range(3):
            try:
                # polled on a timer: requestAnimationFrame, the default, may not run in a tab that is not in front
                page.wait_for_function("() => window.socket && window.socket.connected", polling=200, timeout=20_000)
                return [text for author, text in shown_messages(page) if author.startswith("Sender ")]
            except PlaywrightError:  # it navigated (reloaded) meanwhile: ask again
                time.sleep(0.5)
        raise AssertionError(f"a tab never got its socket back: {page.url} {page.title()!r}")

    def complete() -> bool:
        return all(len(texts(page)) >= len(stored) for _, page in tabs)

    with contextlib.suppress(AssertionError):  # the counts below say which tab misses what
        wait_until(complete, timeout=30, interval=0.5, what="every tab to show every message")
    tallies = []
    for name, page in tabs:
        shown = texts(page)
        lost = len(set(stored) - set(shown))
        duplicated = len(shown) - len(set(shown))
        out_of_order = 0 if [t for t in shown if t in set(stored)] == stored else 1
        missing = sorted(set(stored) - set(shown))
        tallies.append((name, len(shown), lost, duplicated, out_of_order, missing))
    retried = {text for s in senders for text in s.retried}
    summary = "\n".join(
        f"{name}: shown={shown} lost={lost} duplicated={dup} out_of_order={order}"
        + (f" missing={[(t, 'retried' if t in retried else 'first try') for t in missing]}" if missing else "")
        for name, shown, lost, dup, order, missing in tallies
    )
    print(f"\n{len(stored)} messages, {len(retried)} retried posts, stops {stops}\n{summary}")
    record_property("rolling_restart_exit_seconds", [round(s.seconds, 2) for s in stops])
    assert all(lost == dup == order == 0 for _, _, lost, dup, order, _ in tallies), summary
