"""Events on the bus: plain JSON objects with a ``type`` and an ``op``, serialized in one place.

A room's channel carries its messages; the activity channel carries what every process needs whatever rooms it
shows: room activity (coalesced), new rooms, read markers and ended sessions. ``origin`` names the process that
published an event it has already applied itself.
"""

from __future__ import annotations

import json
from typing import Any

from .models import Message, is_message_key
from .rooms import Room

Event = dict[str, Any]


# what changed in a message that was stored already; every one carries the whole message after the change
CHANGE_OPS = ("update", "remove", "react")


def message_added(message: Message) -> Event:
    return {"type": "message", "op": "add", "message": message.to_json()}


def message_changed(op: str, message: Message) -> Event:
    """An edit ("update"), a delete ("remove") or a reaction ("react") of ``message``, as it is after it."""
    if op not in CHANGE_OPS:
        raise ValueError(f"not a change: {op!r}")
    return {"type": "message", "op": op, "message": message.to_json()}


def session_ended(digest: str) -> Event:
    return {"type": "session", "op": "end", "session": digest}


def activity(rooms: dict[str, tuple[str, int]], *, origin: str) -> Event:
    """Rooms with new messages: room -> [newest key, how many]."""
    return {"type": "activity", "op": "rooms", "origin": origin, "rooms": {r: list(v) for r, v in rooms.items()}}


def reads(marks: list[tuple[str, str, str]], *, origin: str) -> Event:
    """Read markers that moved: [reader, room, key] each."""
    return {"type": "read", "op": "marks", "origin": origin, "marks": [list(m) for m in marks]}


def room_added(room: Room, *, origin: str) -> Event:
    return {"type": "room", "op": "add", "origin": origin, "room": {"id": room.id, "name": room.name}}


def encode(event: Event) -> str:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


def decode(raw: str | bytes) -> Event:
    """Parse one event; raises ValueError for anything that is not a JSON object with type and op."""
    event = json.loads(raw)
    if not isinstance(event, dict) or not isinstance(event.get("type"), str) or not isinstance(event.get("op"), str):
        raise ValueError(f"not an event: {str(raw)[:80]!r}")
    return event


def message_of(event: Event) -> Message | None:
    """The message a message event carries (new or changed), or None for any other event."""
    if event["type"] == "message" and (event["op"] == "add" or event["op"] in CHANGE_OPS):
        return Message.from_json(event["message"])
    return None


def activity_of(event: Event) -> dict[str, tuple[str, int]]:
    """The rooms of an activity event; ValueError for anything malformed."""
    rooms: dict[str, tuple[str, int]] = {}
    for room, (newest, count) in dict(event["rooms"]).items():
        if not isinstance(room, str) or not isinstance(newest, str) or not is_message_key(newest):
            raise ValueError("not a room's activity")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ValueError("not a count of messages")
        rooms[room] = (newest, count)
    return rooms


def reads_of(event: Event) -> list[tuple[str, str, str]]:
    """The read markers of a read event; ValueError for anything malformed."""
    marks: list[tuple[str, str, str]] = []
    for reader, room, key in event["marks"]:
        if not all(isinstance(value, str) for value in (reader, room, key)) or not is_message_key(key):
            raise ValueError("not a read marker")
        marks.append((reader, room, key))
    return marks


def room_of(event: Event) -> Room:
    data = event["room"]
    room_id, name = data["id"], data["name"]
    if not isinstance(room_id, str) or not isinstance(name, str):
        raise ValueError("not a room")
    return Room(id=room_id, name=name)


# -- presence and typing, on the room's channel ----------------------------------------------------------------
_MAX_NAME = 200
_MAX_ID = 200


def _person(entry: Any) -> tuple[str, str]:
    author_id, name = entry
    if not isinstance(author_id, str) or not isinstance(name, str) or not author_id or not name:
        raise ValueError("not a person")
    if len(author_id) > _MAX_ID or len(name) > _MAX_NAME:
        raise ValueError("not a person")
    return author_id, name


def presence(people: list[tuple[str, str]], *, origin: str) -> Event:
    """A process's full list of a room's people: [author_id, name] each."""
    return {"type": "presence", "op": "set", "origin": origin, "people": [list(p) for p in people]}


def typing(author_id: str, name: str, *, origin: str) -> Event:
    return {"type": "typing", "op": "start", "origin": origin, "author_id": author_id, "name": name}


def presence_of(event: Event) -> tuple[str, list[tuple[str, str]]]:
    """The origin and people of a presence event; ValueError for anything malformed."""
    origin, people = event["origin"], event["people"]
    if not isinstance(origin, str) or not isinstance(people, list):
        raise ValueError("not a presence event")
    return origin, [_person(p) for p in people]


def typing_of(event: Event) -> tuple[str, str, str]:
    """The origin, author_id and name of a typing event; ValueError for anything malformed."""
    origin = event["origin"]
    if not isinstance(origin, str):
        raise ValueError("not a typing event")
    return (origin, *_person((event["author_id"], event["name"])))
