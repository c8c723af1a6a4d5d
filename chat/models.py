"""Messages, sessions and the rules for names and text."""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .confusables import is_default_ignorable, skeleton
from .errors import InvalidName, InvalidText

NAME_MIN_LENGTH = 2
NAME_MAX_LENGTH = 32
_NAME_PUNCTUATION = frozenset(" _-.")
# newline and tab are the only control characters a message may carry
_KEPT_CONTROLS = frozenset("\n\t")
_KEY_ROUNDS = 8


def _nfkc_casefold(text: str) -> str:
    """NFKC, case-folded, NFKC again (Unicode's NFKC_Casefold idea)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def name_key(display: str) -> str:
    """The form names are compared in: names that differ only in case, width or look share one key.

    It is the UTS #39 skeleton of the NFKC-casefolded name, taken of its capitals first, then folded and
    skeletoned again until nothing changes. Casefolding first keeps "Straße" and "STRASSE" one name. Capitals,
    because many look-alikes differ only there: Cyrillic capital EN (U+041D) is drawn like "H" but its small
    letter not like "h", and "I" like "l"; taking them after casefolding would hide those. The rounds after
    catch the lowercase look-alikes ("rn" and "m", Cyrillic U+0430 and "a") and reach a key that the skeleton
    no longer changes. The key is for comparing, not for showing: it may look odd ("vernon" for "Vemon").
    """
    folded = _nfkc_casefold(display)
    key = _nfkc_casefold(skeleton(unicodedata.normalize("NFKC", folded.upper())))
    for _ in range(_KEY_ROUNDS):  # two rounds reach the fixed point for every allowed character
        again = _nfkc_casefold(skeleton(key))
        if again == key:
            break
        key = again
    return key


def _name_char_ok(char: str, previous: str | None) -> bool:
    category = unicodedata.category(char)
    if category.startswith("L") or category == "Nd" or char in _NAME_PUNCTUATION:
        return True
    # combining marks belong to many scripts' letters (Devanagari, Thai, ...), never on their own
    return category.startswith("M") and previous is not None and unicodedata.category(previous)[0] in "LM"


def check_name(raw: str) -> str:
    """Return the trimmed display form of a user name, or raise InvalidName saying why."""
    name = unicodedata.normalize("NFC", raw.strip())
    if len(name) < NAME_MIN_LENGTH:
        raise InvalidName(f"A name needs at least {NAME_MIN_LENGTH} characters.")
    if len(name) > NAME_MAX_LENGTH:
        raise InvalidName(f"A name can have at most {NAME_MAX_LENGTH} characters.")
    previous: str | None = None
    for char in name:
        # default-ignorable characters are drawn as nothing, and some of them are letters (U+3164 HANGUL FILLER)
        # or marks (U+034F, variation selectors): refused, so two names never differ only invisibly
        invisible = is_default_ignorable(char)
        if invisible or not _name_char_ok(char, previous):
            category = unicodedata.category(char)
            visible = not invisible and char.isprintable() and not char.isspace() and not category.startswith("M")
            shown = repr(char) if visible else f"U+{ord(char):04X}"
            raise InvalidName(f"A name can only have letters, digits, spaces and _ - . (not {shown}).")
        previous = char
    if "  " in name:
        raise InvalidName("A name cannot have two spaces in a row.")
    return name


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
    """A live login: the random token the browser holds, and whose name it is."""

    token: str
    name: str
    name_key: str
    expires_at: int  # epoch seconds; the DynamoDB TTL attribute

    def expired(self, now: float) -> bool:
        return self.expires_at <= now


def new_session_token() -> str:
    """A random, unguessable session token (256 bits)."""
    return secrets.token_urlsafe(32)
