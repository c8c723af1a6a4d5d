"""The chat panel element (room list, top bar, Load more, messages): keeps a bounded, key-ordered copy of what its
browser shows.

One element per tab, where separate NiceGUI elements for the bar and the buttons would each cost a few KiB of
server memory per connected tab (see docs/benchmarks.md).
"""

from __future__ import annotations

import bisect
from datetime import UTC, datetime
from typing import Any

from nicegui import ui

from chat.models import REACTIONS, Draft

Status = str  # "pending" or "failed"


def pending_payload(key: str, draft: Draft, status: Status, error: str | None = None) -> dict[str, Any]:
    """A message of the reader's that is not stored yet, under a provisional ``key`` that sorts after every stored
    one (see ChatView); it shows where the reader typed it until the stored message takes its place."""
    data: dict[str, Any] = {
        "room": draft.room,
        "key": key,
        "author": draft.author,
        "author_id": draft.author_id,
        "text": draft.text,
        "nonce": draft.nonce,
        "created_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "status": status,
    }
    if error is not None:
        data["error"] = error
    return data


START_TEXT = "This is the start of the conversation."
DELETED_TEXT = "This message was deleted."


def _not_newer(data: dict[str, Any], current: dict[str, Any]) -> bool:
    """Whether ``data`` adds nothing to ``current`` of the same key: the same status, and for a stored message a
    version no higher (a stored message replaces a pending one of the same key, as the sender's confirmation)."""
    if current.get("status") != data.get("status"):
        return False
    return current.get("status") is not None or data.get("version", 0) <= current.get("version", 0)


def _changed_after(item: dict[str, Any], floor: str | None) -> bool:
    changed_at = item.get("changed_at")
    return changed_at is not None and (floor is None or changed_at > floor)


class ChatPanel(ui.element, component="chat_panel.js"):
    """Shows messages oldest to newest; new ones go to the browser as data, never as new elements.

    Events: ``load_more``, ``logout``, ``retry`` (with the key of a failed message of the reader's),
    ``create_room`` (with the name typed), ``delete`` (a key) and ``react`` (``{key, emoji, on}``). ``room`` and
    ``rooms`` are rooms as ``Room.to_json`` makes them;
    ``unread`` counts by room id, counted up to the key ``counted``.
    """

    def __init__(
        self,
        *,
        name: str,
        me: str,
        limit: int,
        room: dict[str, str],
        rooms: list[dict[str, str]],
        unread: dict[str, int],
        counted: str,
    ) -> None:
        super().__init__()
        self._limit = limit
        self._keys: list[str] = []
        self._items: dict[str, dict[str, Any]] = {}
        self._more = False
        # the oldest key Load more brought, once the model let it go: where the next Load more reads from, until
        # anything else reaches the tab
        self._loaded_from: str | None = None
        self._room_names = [r["name"] for r in rooms]
        # one update: NiceGUI handles every change of an element's props (a page builds many), and wraps a list held
        # in props (and every dict in it) in observable copies, which a tuple is spared
        self._props.update(
            name=name,
            me=me,
            limit=limit,
            room=room,
            rooms=tuple(rooms),
            unread=unread,
            counted=counted,
            reactions=REACTIONS,  # the palette of "Add reaction"
            messages=(),
            more=False,
            online={"all": ()},  # the Online list and typists come with the socket's join
            typing=(),
        )

    # -- what the element holds ---------------------------------------------------------------------
    @property
    def keys(self) -> list[str]:
        """The keys shown, oldest first."""
        return list(self._keys)

    @property
    def limit(self) -> int:
        """The most messages the panel holds: older ones are let go as newer ones come."""
        return self._limit

    @property
    def oldest_key(self) -> str | None:
        return next((k for k in self._keys if self._items[k].get("status") is None), None)

    @property
    def load_before(self) -> str | None:
        """Where Load more reads older messages from: the oldest the tab holds, which the model may have let go."""
        oldest = self.oldest_key
        if self._loaded_from is None:
            return oldest
        return self._loaded_from if oldest is None else min(oldest, self._loaded_from)

    @property
    def newest_key(self) -> str | None:
        return next((k for k in reversed(self._keys) if self._items[k].get("status") is None), None)

    @property
    def more(self) -> bool:
        """Whether Load more is offered (older messages exist that the view does not hold)."""
        return self._more

    def item(self, key: str) -> dict[str, Any] | None:
        return self._items.get(key)

    def _displayed_contents(self, *, only_visible: bool) -> list[Any]:
        # what a person sees rendered by the component, for NiceGUI's simulated user
        return [
            *super()._displayed_contents(only_visible=only_visible),
            "sinchchat",
            self._props["room"]["name"],
            *self._room_names,
            "New room",
            self._props["name"],
            "Log out",
            "Load more" if self._more else START_TEXT,
            *(f"{m['author']}: {DELETED_TEXT if m.get('deleted') else m['text']}" for m in self._items.values()),
        ]

    def _merge(self, payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
        changed = []
        for data in payloads:
            key = data["key"]
            current = self._items.get(key)
            if current is not None and _not_newer(data, current):
                continue  # already shown as it is (the same message from the bus, catch-up or the sender), or newer
            if current is None:
                bisect.insort(self._keys, key)
            self._items[key] = data
            changed.append(data)
        if changed:
            # the browser may have trimmed its own list to its newest (see add in chat_panel.js): Load more reads
            # from the model's oldest again, which at worst brings some that the browser drops as held
            self._loaded_from = None
        return changed

    def _trim(self) -> bool:
        trimmed = len(self._keys) > self._limit
        while len(self._keys) > self._limit:
            del self._items[self._keys.pop(0)]
        return trimmed

    # -- changes, sent to the browser as data ----------------------------------------------------------
    def show(self, payload: list[dict[str, Any]], *, more: bool) -> None:
        """Set the initial content and whether older messages exist (before the page is sent, so it travels with it).

        The dicts may be shared with other views and are never changed. A tuple, because NiceGUI wraps a list
        held in props (and every dict in it) in observable copies: about 30 KiB per view for 50 messages.
        """
        self._keys.clear()
        self._items.clear()
        self._loaded_from = None
        self._merge(payload)
        self._props.update(messages=tuple(self._items[k] for k in self._keys), more=more)
        self._more = more

    def set_more(self, more: bool) -> None:
        """Offer Load more or show the start of the conversation; also enables the browser's Load more button again."""
        self._more = more
        self.run_method("setMore", more)

    def accept(self, payload: list[dict[str, Any]]) -> None:
        """Take new stored messages into the model only (the browser gets them from the room emit).

        The dicts are shared by every view of the process and must not be changed. When old ones are let go to keep
        the view small, Load more is offered to bring them back (the browser trims and offers it by itself).
        """
        oldest = self.oldest_key if self._more else None
        if oldest is not None:  # older than what is shown, while older history is left to load: for Load more
            payload = [data for data in payload if data["key"] > oldest]
        if self._merge(payload) and self._trim():
            self._more = True

    def after(self, floor: str | None, changed_floor: str | None = None) -> list[dict[str, Any]]:
        """The stored messages of the model with a key above ``floor`` (all of them for None), and those changed
        after the change key ``changed_floor`` (every changed one for None), oldest first; none as the page held it."""
        start = 0 if floor is None else bisect.bisect_right(self._keys, floor)
        found = [item for k in self._keys[:start] if _changed_after(item := self._items[k], changed_floor)]
        found += [item for k in self._keys[start:] if (item := self._items[k]).get("status") is None]
        # the very dicts the page carried are in the browser (a newer version is a new dict): a join right after the
        # page, whose overlap would bring most of them back, costs nothing per message it already has
        in_page = {id(item) for item in self._props["messages"]}
        return [item for item in found if id(item) not in in_page]

    def set_pending(self, key: str, draft: Draft, status: Status, error: str | None = None) -> None:
        """Show one of the reader's own messages, under its provisional ``key``, as pending or failed (``error``)."""
        data = pending_payload(key, draft, status, error)
        self._merge([data])
        self.run_method("add", [data])

    def confirm(self, key: str, stored: dict[str, Any]) -> None:
        """The reader's message under provisional ``key`` is stored: ``stored`` takes its place."""
        if self._items.pop(key, None) is not None:
            self._keys.remove(key)
        self._merge([stored])
        self.run_method("confirm", key, stored)

    def read(self, room: str, key: str) -> None:
        """The reader's session has read ``room`` up to ``key`` elsewhere: its unread count goes."""
        self.run_method("read", room, key)

    def set_rooms(self, rooms: list[dict[str, str]], unread: dict[str, int], counted: str) -> None:
        """Replace the room list and its unread counts (as ``rooms``, ``unread`` and ``counted`` of the constructor)."""
        self._room_names = [r["name"] for r in rooms]
        self.run_method("setRooms", rooms, unread, counted)

    def room_refused(self, error: str) -> None:
        """Show why the room typed in New room was not made."""
        self.run_method("roomRefused", error)

    def prepend(self, payload: list[dict[str, Any]]) -> None:
        """Insert older messages above, keeping the reader's place (the dicts are shared, as for show).

        The browser keeps them; the model keeps its newest ``limit`` only, as accept does, so that a tab that loads a
        long room's whole history does not hold all of it here too (a returning tab's join then misses changes to
        messages older than that, until the next page load).
        """
        changed = self._merge(payload)
        if changed:
            self.run_method("prepend", changed)
        if len(self._keys) > self._limit:
            self._loaded_from = self.load_before
            self._trim()
