"""A message as a Messages item, and back: the attributes every store of that table reads and writes.

A message that was changed carries more attributes than the ones it was stored with: ``Version`` (a number, one per
change), ``ChangedAt`` (the change key, which puts it in the change feed's index), ``EditedAt``, ``Deleted`` and one
string set per reaction of the palette (DynamoDB adds to and deletes from sets only at the top level). Items written
before any of these existed read as never changed.
"""

from __future__ import annotations

import logging
from typing import Any

from ..models import REACTIONS, Message, is_message_key

log = logging.getLogger(__name__)

# the attribute of a tombstone: where the message that was to be stored at its key went instead
MOVED_TO = "MovedTo"
# one top-level string set of author ids per emoji of the palette, named by its place in it
REACTION_ATTRIBUTES: dict[str, str] = {emoji: f"Reaction{index}" for index, emoji in enumerate(REACTIONS)}


def to_item(message: Message) -> dict[str, dict[str, str]]:
    """The item of a new message (never changed: it has none of the change attributes)."""
    item = {
        "PartitionKey": {"S": message.room},
        "CreatedAt": {"S": message.key},
        "UserName": {"S": message.author},
        "DisplayName": {"S": message.author},
        "AuthorId": {"S": message.author_id},
        "Text": {"S": message.text},
    }
    if message.nonce:
        item["Nonce"] = {"S": message.nonce}
    return item


def string(item: dict[str, Any], name: str) -> str:
    value = item.get(name, {}).get("S", "")
    return value if isinstance(value, str) else ""


def _version(item: dict[str, Any]) -> int:
    raw = item.get("Version", {}).get("N", "0")
    try:
        return max(0, int(raw))
    except (TypeError, ValueError):
        return 0


def _reactions(item: dict[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    found = []
    for emoji, attribute in REACTION_ATTRIBUTES.items():
        authors = item.get(attribute, {}).get("SS", [])
        if isinstance(authors, list):
            kept = sorted({a for a in authors if isinstance(a, str)})
            if kept:
                found.append((emoji, tuple(kept)))
    return tuple(found)


def from_item(item: dict[str, Any]) -> Message | None:
    """The message an item holds, or None for an item that is not one (written by hand, by an old version...).

    Reading must survive any stored item: one bad item must never break a page for everybody.
    """
    key = string(item, "CreatedAt")
    if not is_message_key(key) or MOVED_TO in item:
        return None
    deleted = item.get("Deleted", {}).get("BOOL") is True
    changed_at = string(item, "ChangedAt")
    return Message(
        room=string(item, "PartitionKey"),
        key=key,
        author=string(item, "DisplayName") or string(item, "UserName") or "?",
        author_id=string(item, "AuthorId"),
        text="" if deleted else string(item, "Text"),
        nonce=string(item, "Nonce"),
        version=_version(item),
        edited_at=string(item, "EditedAt") or None,
        deleted=deleted,
        reactions=() if deleted else _reactions(item),
        changed_at=changed_at if is_message_key(changed_at) else None,
    )


def messages_of(items: list[dict[str, Any]]) -> list[Message]:
    found = [m for m in map(from_item, items) if m is not None]
    invalid = len(items) - len(found) - sum(1 for item in items if MOVED_TO in item)
    if invalid:
        log.warning("skipped %d stored item(s) that are not valid messages", invalid)
    return found
