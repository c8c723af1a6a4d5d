"""The presence and typing frames of the broadcaster: one Socket.IO emit per chat room per kind, at most one a
second, whatever the churn (a thousand tabs coming and going, fifty people typing).

Presence travels as deltas against what the room's tabs were last sent (``{"add": [[id, name]], "gone": [id]}``),
and in full (``{"all": [...]}``) with the page and when a socket joins, so that a tab that was away is right
again; applying a delta twice changes nothing. Typing travels as the full list of typists, each with the seconds it
still counts, so a tab lets a typist go by itself when nobody says more.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from nicegui import background_tasks, core

from chat.presence import Person, by_name
from chat.presence_feed import PresenceFeed, Typist
from chat.settings import PRESENCE_EMIT_SECONDS

PRESENCE_EVENT = "sinchchat_presence"
TYPING_EVENT = "sinchchat_typing"


class _Pacer:
    """Calls ``send(room)`` soon after a poke, and never twice within ``interval`` seconds for one room."""

    def __init__(self, send: Callable[[str], None], interval: float) -> None:
        self._send = send
        self._interval = interval
        self._sent_at: dict[str, float] = {}
        self._later: dict[str, asyncio.TimerHandle] = {}

    def poke(self, room: str) -> None:
        if room in self._later:
            return  # the frame under way carries this change too
        wait = max(0.0, self._sent_at.get(room, -float("inf")) + self._interval - time.monotonic())
        self._later[room] = asyncio.get_running_loop().call_later(wait, self._fire, room)

    def _fire(self, room: str) -> None:
        del self._later[room]
        self._sent_at[room] = time.monotonic()
        self._send(room)


def people_frame(people: list[Person]) -> dict[str, Any]:
    return {"all": [list(p) for p in people]}


def typing_frame(typists: list[Typist], now: float) -> list[list[Any]]:
    """The typists as the browser gets them: [author_id, name, seconds they still count]."""
    return [[a, n, round(until - now, 1)] for a, n, until in typists if until > now]


class PresenceEmitter:
    """The broadcaster's presence sink: what the feed says, paced into room emits."""

    def __init__(self, feed: PresenceFeed, *, socket_room: Callable[[str], str]) -> None:
        self._feed = feed
        self._socket_room = socket_room
        self._now: dict[str, dict[str, str]] = {}  # room -> people, as the feed last said
        self._sent: dict[str, dict[str, str]] = {}  # room -> people, as the tabs were last told
        self._people = _Pacer(self._emit_people, PRESENCE_EMIT_SECONDS)
        self._typing = _Pacer(self._emit_typing, PRESENCE_EMIT_SECONDS)
        feed.attach(self)

    def on_presence(self, room: str, people: dict[str, str]) -> None:
        self._now[room] = people
        self._people.poke(room)

    def on_typing(self, room: str, typists: list[Typist]) -> None:
        self._typing.poke(room)

    def full(self, room: str) -> tuple[dict[str, Any], list[list[Any]]]:
        """The room's people and typists in full, for a page or a socket that joins."""
        return people_frame(by_name(self._feed.people(room))), typing_frame(self._feed.typists(room), self._feed.now())

    def _emit_people(self, room: str) -> None:
        now = self._now.get(room, {})
        sent = self._sent.get(room, {})
        add = [[a, n] for a, n in by_name(now) if sent.get(a) != n]
        gone = [a for a in sent if a not in now]
        self._sent[room] = now
        if not now:
            self._now.pop(room, None)
            self._sent.pop(room, None)
        if add or gone:
            frame = {"add": add, "gone": gone}
            background_tasks.create(core.sio.emit(PRESENCE_EVENT, frame, room=self._socket_room(room)), name="presence")

    def _emit_typing(self, room: str) -> None:
        frame = typing_frame(self._feed.typists(room), self._feed.now())
        background_tasks.create(core.sio.emit(TYPING_EVENT, frame, room=self._socket_room(room)), name="typing")

    async def send_full(self, sid: str, room: str) -> None:
        """The room's people and typists to one socket that joined (once per join, never per change)."""
        people, typists = self.full(room)
        await core.sio.emit(PRESENCE_EVENT, people, to=sid)
        if typists:
            await core.sio.emit(TYPING_EVENT, typists, to=sid)
