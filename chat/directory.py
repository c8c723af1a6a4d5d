"""The rooms that exist, as this process knows them: the lobby, then every room by name.

The list is read from the Rooms table with a Query and kept for a while; a room made anywhere reaches every
process at once through the activity channel, and the periodic reread covers an announcement Redis lost. Rooms
are never deleted, so a room once seen stays known.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from .errors import Conflict
from .rooms import LOBBY_NAME, ROOM_ID_MAX_LENGTH, Room, lookalike_key, room_id
from .storage import RoomRecord, RoomStore

# the rooms a list shows; past this many a room is reached by its address or by creating it by name
ROOM_LIST_LIMIT = 200
_REREAD_SECONDS = 60.0


class RoomDirectory:
    """The room list and the known room ids, read through to the Rooms table."""

    def __init__(self, *, store: RoomStore, lobby_id: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self.lobby = Room(id=lobby_id, name=LOBBY_NAME)
        self._clock = clock
        self._known: dict[str, Room] = {lobby_id: self.lobby}
        self._listed: list[Room] | None = None
        self._read_at = 0.0

    async def ensure_lobby(self) -> None:
        """Make the lobby a room of the table too, so that names that look like it are refused."""
        # a room that looks like the lobby's name may have been made first: it is still the lobby here
        with contextlib.suppress(Conflict):
            await self._store.create(
                room_id=self.lobby.id, name=LOBBY_NAME, lookalike=lookalike_key(LOBBY_NAME), created_by=""
            )

    async def rooms(self) -> list[Room]:
        """The lobby, then the other rooms by name (at most ROOM_LIST_LIMIT)."""
        if self._listed is None or self._clock() - self._read_at > _REREAD_SECONDS:
            records = await self._store.list(limit=ROOM_LIST_LIMIT + 1)
            self._read_at = self._clock()
            for record in records:
                self._learn(record)
            self._listed = sorted(
                (self._known[r.id] for r in records if r.id != self.lobby.id), key=lambda r: (r.name.casefold(), r.id)
            )[:ROOM_LIST_LIMIT]
        return [self.lobby, *self._listed]

    async def get(self, room: str) -> Room | None:
        """The room with id ``room``, or None."""
        known = self._known.get(room)
        if known is not None:
            return known
        if len(room) > ROOM_ID_MAX_LENGTH:  # no room has such an id, and DynamoDB refuses a key past 1,024 bytes
            return None
        record = await self._store.get(room)
        return None if record is None else self._learn(record)

    async def create(self, name: str, *, created_by: str) -> tuple[Room, bool]:
        """The room called ``name`` (a checked name), made now (True) or already there (False)."""
        the_id = room_id(name)
        if the_id == self.lobby.id:
            return self.lobby, False
        record, created = await self._store.create(
            room_id=the_id, name=name, lookalike=lookalike_key(name), created_by=created_by
        )
        room = self._learn(record)
        if created:
            self.add(room)
        return room, created

    def add(self, room: Room) -> None:
        """A room made here or elsewhere: into the list at once."""
        self._known.setdefault(room.id, room)
        if self._listed is not None and room.id != self.lobby.id and all(r.id != room.id for r in self._listed):
            self._listed = sorted([*self._listed, room], key=lambda r: (r.name.casefold(), r.id))[:ROOM_LIST_LIMIT]

    def _learn(self, record: RoomRecord) -> Room:
        room = self._known.get(record.id)
        if room is None:
            room = self._known[record.id] = Room(id=record.id, name=record.name)
        return room
