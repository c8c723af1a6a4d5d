"""NiceGUI's per-tab outbox loop, without its once-a-second wake-up.

Every connected tab has an outbox task (``nicegui.outbox.Outbox.loop``) that waits for something to send with
``asyncio.wait_for(self._enqueue_event.wait(), timeout=1.0)``. Nothing happens on the timeout: the loop only goes
round again, and ``Outbox.stop`` sets the same event to end it. Yet each round creates a task, a timer and a
cancellation, for every tab, every second: about a fifth of what 1,000 idle tabs cost a process (measured in
docs/benchmarks.md, "Idle tabs in steady state"). NiceGUI has no setting for it.

The override: the outbox module's name ``asyncio`` is replaced by a proxy of the real module whose ``wait_for``
waits without a timeout. The outbox calls nothing else of ``asyncio`` with a timeout, and every other name is the
real module's. tests/unit/test_outbox_wait.py fails when NiceGUI's outbox changes in a way this relies on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from types import ModuleType
from typing import Any, TypeVar

from nicegui import outbox

T = TypeVar("T")


class _UntimedWaits(ModuleType):
    """``asyncio`` as the outbox sees it: the same module, with ``wait_for`` never timing out."""

    def __init__(self) -> None:
        super().__init__("asyncio")

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    @staticmethod
    async def wait_for(awaitable: Awaitable[T], timeout: float | None = None) -> T:  # noqa: ASYNC109
        # the outbox's only timed wait is for its enqueue event, which enqueue and stop() both set
        return await awaitable


def install() -> None:
    """Make every outbox created from now on sleep until it has something to send (idempotent)."""
    names = vars(outbox)
    if not isinstance(names["asyncio"], _UntimedWaits):
        names["asyncio"] = _UntimedWaits()
