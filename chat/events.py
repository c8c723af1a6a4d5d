"""Events on the bus: plain JSON objects with a ``type`` and an ``op``, serialized in one place."""

from __future__ import annotations

import json
from typing import Any

from .models import Message

Event = dict[str, Any]


def message_added(message: Message) -> Event:
    return {"type": "message", "op": "add", "message": message.to_json()}


def session_ended(digest: str) -> Event:
    return {"type": "session", "op": "end", "session": digest}


def encode(event: Event) -> str:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


def decode(raw: str | bytes) -> Event:
    """Parse one event; raises ValueError for anything that is not a JSON object with type and op."""
    event = json.loads(raw)
    if not isinstance(event, dict) or not isinstance(event.get("type"), str) or not isinstance(event.get("op"), str):
        raise ValueError(f"not an event: {str(raw)[:80]!r}")
    return event


def message_of(event: Event) -> Message | None:
    """The message an add-message event carries, or None for any other event."""
    if event["type"] == "message" and event["op"] == "add":
        return Message.from_json(event["message"])
    return None
