"""The outbox override (components/outbox_wait.py) against the NiceGUI it was written for.

The first tests fail when NiceGUI's outbox changes what the override relies on: then read the new loop and decide
whether the override is still needed (upstream may have dropped the once-a-second wake-up) or must follow.
"""

from __future__ import annotations

import asyncio
import inspect
import weakref
from collections import deque
from typing import Any

import pytest
from nicegui import outbox
from nicegui.outbox import Outbox

from components import outbox_wait


def test_the_outbox_waits_for_its_event_with_a_one_second_timeout_and_nothing_else_of_asyncio_times_out() -> None:
    source = inspect.getsource(outbox)
    assert source.count("asyncio.wait_for(") == 1
    assert "await asyncio.wait_for(self._enqueue_event.wait(), timeout=1.0)" in inspect.getsource(Outbox.loop)
    assert "asyncio.timeout(" not in source


def test_stopping_an_outbox_wakes_its_loop_so_no_timeout_is_needed_to_end_it() -> None:
    stop = inspect.getsource(Outbox.stop)
    assert "self._should_stop = True" in stop
    assert "self._set_enqueue_event()" in stop
    for enqueue in (Outbox.enqueue_update, Outbox.enqueue_delete, Outbox.enqueue_message):
        assert "self._set_enqueue_event()" in inspect.getsource(enqueue)


def test_install_replaces_only_wait_for_and_is_idempotent() -> None:
    outbox_wait.install()
    first = vars(outbox)["asyncio"]
    outbox_wait.install()
    assert vars(outbox)["asyncio"] is first
    assert first.Event is asyncio.Event
    assert first.CancelledError is asyncio.CancelledError
    assert first.sleep is asyncio.sleep
    assert first.wait_for is not asyncio.wait_for


async def test_the_wait_does_not_time_out() -> None:
    outbox_wait.install()
    event = asyncio.Event()
    waiting = asyncio.create_task(vars(outbox)["asyncio"].wait_for(event.wait(), timeout=0.001))
    await asyncio.sleep(0.05)  # fifty times the timeout it was given
    assert not waiting.done()
    event.set()
    assert await waiting is True


class _Client:
    id = "client"
    has_socket_connection = True

    def check_existence(self) -> None:
        pass


@pytest.fixture
def untimed_outbox() -> Any:
    outbox_wait.install()
    client = _Client()
    box = Outbox.__new__(Outbox)  # without its constructor, which starts the loop through NiceGUI's app
    box._client = weakref.ref(client)  # type: ignore[assignment]
    box.updates = weakref.WeakValueDictionary()
    box.messages = deque()
    box.message_history = deque()
    box.next_message_id = 0
    box._loaded_components = set()
    box._should_stop = False
    box._enqueue_event = None
    sent: list[Any] = []

    async def emit(message: Any) -> None:
        sent.append(message)

    box._emit = emit  # type: ignore[method-assign]
    return box, sent, client


async def test_nicegui_s_loop_still_sends_what_is_enqueued_and_ends_on_stop(untimed_outbox: Any) -> None:
    box, sent, _client = untimed_outbox
    loop = asyncio.create_task(box.loop())
    for _ in range(5):
        await asyncio.sleep(0)
    box.enqueue_message("chat", {"text": "hi"}, "client")
    for _ in range(5):
        await asyncio.sleep(0)
    assert sent == [("client", "chat", {"text": "hi"})]
    box.stop()
    await asyncio.wait_for(loop, timeout=5)
