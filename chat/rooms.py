"""Rooms: the rules a room name follows, and the two keys a room holds in the Rooms table.

A room's id is its name's NFKC case fold: the address ``/r/<id>`` finds the room whatever the case typed, and a
name that differs only in case or width is the same room ("General", "GENERAL"). Its look-alike key is the case
fold of the name's UTS #39 skeleton: a name that only looks like an existing one ("Genera1", "GeneraI", "General"
with a Cyrillic e) is refused, naming the room it resembles. The lobby is a room like the others, under the id
the settings give it.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from urllib.parse import quote

from .confusables import skeleton
from .errors import InvalidInput
from .names import check_characters, nfkc_casefold

ROOM_NAME_MAX_LENGTH = 40
# a room's id and look-alike key are DynamoDB range keys (1,024 bytes at most) and the API takes ids of up to 200
# characters; NFKC writes some letters out as many (U+FDFA as 18), so a short name can have a long id
ROOM_ID_MAX_LENGTH = 160
LOBBY_NAME = "Lobby"


class InvalidRoomName(InvalidInput):
    """A room name that breaks the room name rules."""


@dataclass(frozen=True, slots=True)
class Room:
    """A room as pages and the API show it."""

    id: str
    name: str

    def path(self, lobby_id: str) -> str:
        """The room's address: ``/`` for the lobby, ``/r/<id>`` (percent-encoded) for any other."""
        return "/" if self.id == lobby_id else f"/r/{quote(self.id, safe='')}"

    def to_json(self, lobby_id: str) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "path": self.path(lobby_id)}


def check_room_name(raw: str) -> str:
    """The trimmed display form of a room name, or InvalidRoomName saying why."""
    name = unicodedata.normalize("NFC", raw.strip())
    if not name:
        raise InvalidRoomName("A room name needs at least 1 character.")
    if len(name) > ROOM_NAME_MAX_LENGTH:
        raise InvalidRoomName(f"A room name can have at most {ROOM_NAME_MAX_LENGTH} characters.")
    check_characters(name, noun="A room name", error=InvalidRoomName)
    if max(len(room_id(name)), len(lookalike_key(name))) > ROOM_ID_MAX_LENGTH:
        raise InvalidRoomName("This room name is too long once written out: some of its characters stand for several.")
    return name


def room_id(name: str) -> str:
    """The id of the room called ``name`` (a checked name): its NFKC case fold."""
    return nfkc_casefold(name)


def lookalike_key(name: str) -> str:
    """The key that two rooms whose names look alike share: the case fold of the UTS #39 skeleton of the name as
    typed (the skeleton first: "GeneraI" with a capital i looks like "General", "generai" does not)."""
    return nfkc_casefold(skeleton(name))
