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

    def add(self, messages: list[Message], *, status: Status = None, error: str | None = None) -> bool:
        """Insert new messages (or new states of shown ones) in key order; True if old ones were let go."""
        changed = self._merge([_payload(m, status, error) for m in messages])
        if not changed:
            return False
        trimmed = self._trim()
        self.run_method("add", changed)
        return trimmed

    def prepend(self, messages: list[Message]) -> None:
        """Insert older messages above, keeping the reader's place."""
        changed = self._merge([_payload(m) for m in messages])
        if changed:
            self.run_method("prepend", changed)

    def reset(self, messages: list[Message]) -> None:
        """Replace everything (after a gap too large to fill)."""
        self.show(messages)
        self.run_method("reset", self._props["messages"])
