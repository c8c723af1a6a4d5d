"""Faults seen from a real browser: a process killed mid-stream, a browser offline for ten seconds.

Each test counts, in the browser, the stored messages it lost, showed twice or showed out of key order.
"""

from __future__ import annotations

import itertools
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page

from tests.helpers import wait_until

from .chat_page import Api, join, shown_keys, wait_connected
from .conftest import Backend, Deployment
from .processes import AppProcess

pytestmark = pytest.mark.e2e


def counts(shown: list[str], stored: list[str]) -> dict[str, int]:
    seen = Counter(shown)
    return {
        "lost": len(set(stored) - set(shown)),
        "duplicated": sum(n - 1 for n in seen.values() if n > 1),
        "out_of_order": sum(1 for a, b in itertools.pairwise(shown) if a > b),
        "unexpected": len(set(shown) - set(stored)),
    }


def send_for(app: AppProcess, name: str, texts: list[str], results: list[str], stop: threading.Event) -> None:
    """Post ``texts`` through ``app``'s API, one every 20 ms, until done or the process is gone."""
    with httpx.Client(base_url=app.base_url, timeout=3) as client:
        token = client.post("/api/sessions", json={"name": name}).json()["token"]
        for text in texts:
            if stop.is_set():
                return
            try:
                response = client.post(
                    "/api/messages", json={"text": text}, headers={"Authorization": f"Bearer {token}"}
                )
            except httpx.TransportError:
                return  # the process was killed
            if response.status_code == 201:
                results.append(response.json()["key"])
            time.sleep(0.02)


def test_a_killed_process_costs_the_other_processes_views_nothing(
    deployment: Deployment, new_person: Callable[[str], Page], record_property: Callable[[str, object], None]
) -> None:
    a, b = deployment.start("doomed", "survivor", catchup_interval_seconds="2")
    reader = new_person(b.base_url)
    join(reader, "Reader")
    wait_connected(reader)
    stop = threading.Event()
    sent_a: list[str] = []
    sent_b: list[str] = []
    senders = [
        threading.Thread(target=send_for, args=(a, "SenderA", [f"a{i}" for i in range(80)], sent_a, stop)),
        threading.Thread(target=send_for, args=(b, "SenderB", [f"b{i}" for i in range(80)], sent_b, stop)),
    ]
    for sender in senders:
        sender.start()
    wait_until(lambda: len(sent_a) >= 30, timeout=30, what="30 messages through the doomed process")
    a.stop(signal.SIGKILL, check=False)  # no shutdown, possibly between a write and its announcement
    deployment.apps.remove(a)
    for sender in senders:
        sender.join(timeout=60)
    api = Api(b.base_url)
    try:
        stored = [m["key"] for m in api.all_messages()]
    finally:
        api.close()
    assert len(stored) >= len(sent_a) + len(sent_b)
    wait_until(lambda: len(shown_keys(reader)) >= len(stored), timeout=20, what="the reader to catch up")
    result = counts(shown_keys(reader), stored)
    print(f"\nSIGKILL of one of two processes, {len(stored)} stored: {result}")
    record_property("sigkill_counts", result)
    assert result == {"lost": 0, "duplicated": 0, "out_of_order": 0, "unexpected": 0}


def test_a_browser_offline_for_ten_seconds_ends_with_every_message(
    backend: Backend,
    tmp_path: Path,
    new_person: Callable[[str], Page],
    record_property: Callable[[str, object], None],
) -> None:
    deployment = Deployment(backend=backend, log_dir=tmp_path)  # a room of its own
    try:
        _offline_reader_catches_up(deployment, new_person, record_property)
    finally:
        deployment.stop()


def _offline_reader_catches_up(
    deployment: Deployment, new_person: Callable[[str], Page], record_property: Callable[[str, object], None]
) -> None:
    (app,) = deployment.start("offline")
    reader = new_person(app.base_url)
    join(reader, "Offline")
    wait_connected(reader)
    api = Api(app.base_url)
    try:
        token = api.join("Talker")
        api.post(token, "before the cut")
        wait_until(lambda: len(shown_keys(reader)) == 1, timeout=10, what="the first message")
        reader.context.set_offline(True)
        started = time.monotonic()
        for i in range(20):
            api.post(token, f"while offline {i}")
        time.sleep(max(0.0, 10 - (time.monotonic() - started)))
        reader.context.set_offline(False)
        stored = [m["key"] for m in api.all_messages()]
    finally:
        api.close()

    def shows_every_message() -> bool:
        # a tab that was away longer than the server keeps its page reloads it, and a read during that fails
        try:
            return shown_keys(reader) == stored
        except PlaywrightError:
            return False

    wait_until(shows_every_message, timeout=30, what="the reader to show every message")
    result = counts(shown_keys(reader), stored)
    print(f"\nBrowser offline for 10 s, {len(stored)} stored: {result}")
    record_property("offline_counts", result)
    assert result == {"lost": 0, "duplicated": 0, "out_of_order": 0, "unexpected": 0}
