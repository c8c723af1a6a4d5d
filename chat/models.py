"""Messages, sessions and the rules for text (names have theirs in chat/names.py)."""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .confusables import is_default_ignorable
from .errors import InvalidText

# newline and tab are the only control characters a message may carry
_KEPT_CONTROLS = frozenset("\n\t")


def clean_text(raw: str, *, max_length: int) -> str:
    """Return message text ready to store: trimmed, control characters other than newline and tab removed.

    Raises InvalidText when nothing is left or the text is longer than ``max_length`` characters.
    """
    text = "".join(
        char for char in raw if char in _KEPT_CONTROLS or unicodedata.category(char) not in ("Cc", "Cs")
    ).strip()
    # nothing but characters drawn as nothing (U+200B, U+2060, U+3164 ...) would be an empty-looking message
    if all(char.isspace() or is_default_ignorable(char) for char in text):
        raise InvalidText("A message cannot be empty.")
    if len(text) > max_length:
        raise InvalidText(
            f"This message has {len(text):,} characters; the limit is {max_length:,}. Shorten it and send again."
        )
    return text


_KEY_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z#[0-9a-f]{16}$")


def new_message_key(now: datetime | None = None) -> str:
    """A sort key that orders by time to the millisecond and never collides: ISO-8601 UTC + '#' + 64 random bits."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z#{secrets.token_hex(8)}"


def is_message_key(value: str) -> bool:
    """Whether ``value`` has the shape of a key made by new_message_key."""
    return bool(_KEY_PATTERN.match(value))


def key_time(key: str) -> datetime:
    """The moment encoded in a message key."""
    return datetime.strptime(key[:23], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Message:
    """One stored message; ``key`` is its DynamoDB sort key and its identity everywhere."""

    room: str
    key: str
    author: str
    author_key: str
    text: str

    @property
    def created_at(self) -> datetime:
        return key_time(self.key)

    def to_json(self) -> dict[str, Any]:
        return {
            "room": self.room,
            "key": self.key,
            "author": self.author,
            "author_key": self.author_key,
            "text": self.text,
            "created_at": self.created_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Message:
        return cls(
            room=str(data["room"]),
            key=str(data["key"]),
            author=str(data["author"]),
            author_key=str(data["author_key"]),
            text=str(data["text"]),
        )


@dataclass(frozen=True, slots=True)
class Session:
    """A live login: the random token the browser holds, and whose name it is.

    ``name_key`` is an internal comparison form (see chat/names.py), never shown or logged; ``author_id`` is the
    opaque public identity of the person behind the name for as long as the session lives.
    """

    token: str
    name: str
    name_key: str
    author_id: str
    expires_at: int  # epoch seconds; the DynamoDB TTL attribute

    def expired(self, now: float) -> bool:
        return self.expires_at <= now


def new_session_token() -> str:
    """A random, unguessable session token (256 bits)."""
    return secrets.token_urlsafe(32)


def new_author_id() -> str:
    """A random public identity for a new session: 16 hex characters (64 bits)."""
    return secrets.token_hex(8)


def session_digest(token: str) -> str:
    """What is kept and sent instead of a session token: its SHA-256, which cannot be used to log in."""
    return hashlib.sha256(token.encode()).hexdigest()
