"""Messages, sessions and the rules for text (names have theirs in chat/names.py)."""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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


# ASCII digits only (``\d`` also matches Arabic-Indic and other digits), matched whole (``$`` lets a newline through)
_KEY_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z#[0-9a-f]{16}")
_NONCE_PATTERN = re.compile(r"[A-Za-z0-9_-]{8,64}")
_ONE_MS = timedelta(milliseconds=1)

# the reactions anyone can add to a message, in the order the palette shows them
REACTIONS: tuple[str, ...] = ("👍", "❤️", "😂", "🎉", "😮", "😢")


def new_message_key(now: datetime | None = None) -> str:
    """A sort key that orders by time to the millisecond and never collides: ISO-8601 UTC + '#' + 64 random bits.

    Only the server makes keys, from its own clock: a key decides where a message sits in every view and what
    catch-up reads, so no client may choose it.
    """
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{key_prefix(moment)}#{secrets.token_hex(8)}"


class KeyClock:
    """Makes message keys that strictly increase within this process, even many in one millisecond.

    Within a millisecond the random suffix of each key is the previous one plus a random step, so two messages of
    one process never swap places, while keys of different processes still collide with negligible probability.
    Thread-safe: the storage threads make keys.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = datetime.min.replace(tzinfo=UTC)  # the millisecond of the last key
        self._last_suffix = 0

    def key(self, now: datetime) -> str:
        moment = now.astimezone(UTC).replace(microsecond=now.microsecond // 1000 * 1000)
        with self._lock:
            moment = max(moment, self._last)  # a clock that stepped back stays in the last millisecond
            suffix = secrets.randbits(63)  # leaves room above for more keys in the same millisecond
            if moment == self._last:
                suffix = self._last_suffix + 1 + secrets.randbelow(1 << 32)
                if suffix >= 1 << 64:  # billions in one millisecond: go on in the next one
                    moment, suffix = moment + _ONE_MS, secrets.randbits(63)
            self._last, self._last_suffix = moment, suffix
        return f"{key_prefix(moment)}#{suffix:016x}"


def key_prefix(moment: datetime) -> str:
    """The part of a key that encodes ``moment``: every key of a later millisecond sorts after it."""
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def key_time(key: str) -> datetime | None:
    """The moment encoded in a message key, or None when ``key`` is not a key with a real date."""
    if not _KEY_PATTERN.fullmatch(key):
        return None
    try:
        return datetime.strptime(key[:23], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)
    except ValueError:  # the right shape, but no such date (month 99, February 30)
        return None


def is_message_key(value: str) -> bool:
    """Whether ``value`` is a key as new_message_key makes them: the exact shape and a real moment."""
    return key_time(value) is not None


def is_nonce(value: str) -> bool:
    """Whether ``value`` can be a client's idempotency id: 8 to 64 of A-Z a-z 0-9 _ -."""
    return bool(_NONCE_PATTERN.fullmatch(value))


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Draft:
    """A checked message that is not stored yet; the server gives it its key when it stores it.

    ``nonce`` is the sender's idempotency id: posting the same draft again, even much later, stores it once.
    """

    room: str
    author: str
    author_id: str
    text: str
    nonce: str


@dataclass(frozen=True, slots=True)
class Message:
    """One stored message; ``key`` is its DynamoDB sort key and its identity everywhere.

    ``author_id`` is the public, opaque id of the session that wrote it (never the name's internal key);
    ``nonce`` the sender's idempotency id, so the sender's tab can match it with what it showed as pending.
    """

    room: str
    key: str
    author: str
    author_id: str
    text: str
    nonce: str = ""
    # every stored change (edit, delete, reaction) adds one: views keep the highest version of a key
    version: int = 0
    edited_at: str | None = None  # ISO-8601 of the last edit
    deleted: bool = False
    # emoji -> author ids of its reactors, sorted; only emoji of REACTIONS with at least one reactor
    reactions: tuple[tuple[str, tuple[str, ...]], ...] = ()
    changed_at: str | None = None  # the change key (a message key's shape, the server's clock) of the last change

    @property
    def created_at(self) -> datetime:
        moment = key_time(self.key)
        if moment is None:  # never for a stored message: reading drops items without a valid key
            raise ValueError(f"not a message key: {self.key[:40]!r}")
        return moment

    def to_json(self) -> dict[str, Any]:
        return {
            "room": self.room,
            "key": self.key,
            "author": self.author,
            "author_id": self.author_id,
            "text": self.text,
            "nonce": self.nonce,
            "created_at": _iso(self.created_at),
            "version": self.version,
            "edited_at": self.edited_at,
            "deleted": self.deleted,
            "reactions": {emoji: list(authors) for emoji, authors in self.reactions},
            "changed_at": self.changed_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Message:
        """The message in ``data``; ValueError (or KeyError, TypeError) for anything that is not one."""
        fields = {name: data[name] for name in ("room", "key", "author", "author_id", "text")}
        nonce = data.get("nonce", "")
        if not all(isinstance(value, str) for value in (*fields.values(), nonce)):
            raise TypeError("message fields must be strings")
        if not is_message_key(fields["key"]):
            raise ValueError("not a message key")
        return cls(**fields, nonce=nonce, **_change_fields(data))


def _change_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The change fields of a message's JSON (absent in a message never changed, or from an older version)."""
    version = data.get("version", 0)
    edited_at = data.get("edited_at")
    deleted = data.get("deleted", False)
    changed_at = data.get("changed_at")
    raw_reactions = data.get("reactions") or {}
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise ValueError("not a message version")
    if not (edited_at is None or isinstance(edited_at, str)) or not isinstance(deleted, bool):
        raise TypeError("not a message's change")
    if changed_at is not None and not (isinstance(changed_at, str) and is_message_key(changed_at)):
        raise ValueError("not a change key")
    if not isinstance(raw_reactions, dict):
        raise TypeError("reactions must be an object")
    reactions = []
    for emoji in REACTIONS:
        authors = raw_reactions.get(emoji)
        if authors is None:
            continue
        if not isinstance(authors, list) or not all(isinstance(a, str) for a in authors):
            raise TypeError("reactors must be a list of author ids")
        if authors:
            reactions.append((emoji, tuple(sorted(set(authors)))))
    return {
        "version": version,
        "edited_at": edited_at,
        "deleted": deleted,
        "reactions": tuple(reactions),
        "changed_at": changed_at,
    }


def iso_time(moment: datetime) -> str:
    """``moment`` as the browser payload's ISO-8601 (UTC, milliseconds, Z)."""
    return _iso(moment.astimezone(UTC))


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


def new_nonce() -> str:
    """An idempotency id for a message whose sender did not choose one (128 random bits)."""
    return secrets.token_urlsafe(16)


def new_session_token() -> str:
    """A random, unguessable session token (256 bits)."""
    return secrets.token_urlsafe(32)


def new_author_id() -> str:
    """A random public identity for a new session: 16 hex characters (64 bits)."""
    return secrets.token_hex(8)


def session_digest(token: str) -> str:
    """What is kept and sent instead of a session token: its SHA-256, which cannot be used to log in."""
    return hashlib.sha256(token.encode()).hexdigest()
