"""The message list element: keeps a bounded, key-ordered copy of what its browser shows."""

from __future__ import annotations

import bisect
from typing import Any

from nicegui import ui

from chat.models import Message

Status = str | None  # None (stored), "pending" or "failed"


def _payload(message: Message, status: Status = None, error: str | None = None) -> dict[str, Any]:
    data = message.to_json()
    if status is not None:
        data["status"] = status
    if error is not None:
        data["error"] = error
    return data


class MessageList(ui.element, component="message_list.js"):
    """Shows messages oldest to newest; new ones go to the browser as data, never as new elements."""

    def __init__(self, *, me: str, limit: int) -> None:
        super().__init__()
        self._limit = limit
        self._keys: list[str] = []
        self._items: dict[str, dict[str, Any]] = {}
        self._props["me"] = me
        self._props["limit"] = limit
        self._props["messages"] = []
        self.classes("sc-list-host")

    # -- what the element holds ---------------------------------------------------------------------
    @property
    def keys(self) -> list[str]:
        """The keys shown, oldest first."""
        return list(self._keys)

    @property
    def oldest_key(self) -> str | None:
        return next((k for k in self._keys if self._items[k].get("status") is None), None)

    @property
    def newest_key(self) -> str | None:
        return next((k for k in reversed(self._keys) if self._items[k].get("status") is None), None)

    def item(self, key: str) -> dict[str, Any] | None:
        return self._items.get(key)

    def _displayed_contents(self, *, only_visible: bool) -> list[Any]:
        return [
            *super()._displayed_contents(only_visible=only_visible),
            *(f"{m['author']}: {m['text']}" for m in self._items.values()),
        ]

    def _merge(self, payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
        changed = []
        for data in payloads:
            key = data["key"]
            current = self._items.get(key)
            if current is not None and current.get("status") == data.get("status"):
                continue  # already shown as it is: the same message from the bus, catch-up or the sender
            if current is None:
                bisect.insort(self._keys, key)
            self._items[key] = data
            changed.append(data)
        return changed

    def _trim(self) -> bool:
        trimmed = len(self._keys) > self._limit
        while len(self._keys) > self._limit:
            del self._items[self._keys.pop(0)]
        return trimmed

    # -- changes, sent to the browser as data ----------------------------------------------------------
    def show(self, messages: list[Message]) -> None:
        """Set the initial content (before the page is sent, so it travels with the page)."""
        self._keys.clear()
        self._items.clear()
        self._merge([_payload(m) for m in messages])
        self._props["messages"] = [self._items[k] for k in self._keys]

    def accept(self, payload: list[dict[str, Any]]) -> bool:
        """Take new stored messages into the model only (the browser gets them from the room emit).

        The dicts are shared by every view of the process and must not be changed. True if old ones were let go.
        """
        return bool(self._merge(payload)) and self._trim()

    def after(self, key: str | None) -> list[dict[str, Any]]:
        """The stored messages of the model newer than ``key`` (all of them for None), oldest first."""
        start = 0 if key is None else bisect.bisect_right(self._keys, key)
        return [item for k in self._keys[start:] if (item := self._items[k]).get("status") is None]

    def set_status(self, message: Message, status: Status, error: str | None = None) -> None:
        """Show one of the reader's own messages as pending, failed (with ``error``) or, with None, sent."""
        data = _payload(message, status, error)
        self._merge([data])
        self.run_method("add", [data])

    def prepend(self, messages: list[Message]) -> None:
        """Insert older messages above, keeping the reader's place."""
        changed = self._merge([_payload(m) for m in messages])
        if changed:
            self.run_method("prepend", changed)
