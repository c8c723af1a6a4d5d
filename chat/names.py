"""User names: the rules a name must follow, and the two keys a live name holds in the Users table.

Two names are one too many when either relation holds:

- they look alike: equal UTS #39 skeletons of the names as typed ("Amie" and "Arnie", "Ian" and "lan"), and
- they are the same name in another case or width: equal NFKC case folds ("Alice" and "ALICE", "Straße" and
  "STRASSE").

These are different relations (the skeleton is case-sensitive, as UTS #39 is: "All" and "Ali" stay apart), so a
session holds one key for each. Both keys are internal comparison forms, never shown: the skeleton of "apibot"
is "aplbot".
"""

from __future__ import annotations

import unicodedata
from functools import cache

from .confusables import is_default_ignorable, skeleton
from .errors import InvalidInput, InvalidName

NAME_MIN_LENGTH = 2
NAME_MAX_LENGTH = 32
_NAME_PUNCTUATION = frozenset(" _-.")
# '#' is neither allowed in a name nor the prototype of any character in confusables.txt, so no skeleton contains
# it: an alias key can never equal a name key
ALIAS_PREFIX = "#"
RESERVED_NAMES = (
    "admin",
    "administrator",
    "system",
    "moderator",
    "mod",
    "root",
    "sinchchat",
    "support",
    "staff",
    "everyone",
    "here",
)


def nfkc_casefold(text: str) -> str:
    """NFKC, case-folded, NFKC again (Unicode's NFKC_Casefold idea)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def name_key(name: str) -> str:
    """The key of the session's main item: the UTS #39 skeleton of the name as typed."""
    return skeleton(name)


def alias_key(name: str) -> str:
    """The key of the session's second item: the name's NFKC case fold, under a prefix no skeleton has."""
    return ALIAS_PREFIX + nfkc_casefold(name)


def _folded_skeleton(text: str) -> str:
    return nfkc_casefold(skeleton(text))


@cache
def _reserved_forms() -> frozenset[str]:
    # a look-alike in capitals is not one in small letters ("ADMlN" looks like "ADMIN", "adrnin" like "admin")
    return frozenset(_folded_skeleton(form) for name in RESERVED_NAMES for form in (name, name.upper(), name.title()))


def _is_reserved(name: str) -> bool:
    """Whether the name is, or looks like, a reserved one, in any case, with or without separators."""
    bare = "".join(char for char in name if char not in _NAME_PUNCTUATION)
    return not _reserved_forms().isdisjoint({_folded_skeleton(bare), _folded_skeleton(nfkc_casefold(bare))})


def _name_char_ok(char: str, previous: str | None) -> bool:
    category = unicodedata.category(char)
    if category.startswith("L") or category == "Nd" or char in _NAME_PUNCTUATION:
        return True
    # combining marks belong to many scripts' letters (Devanagari, Thai, ...), never on their own
    return category.startswith("M") and previous is not None and unicodedata.category(previous)[0] in "LM"


def check_characters(name: str, *, noun: str, error: type[InvalidInput] = InvalidName) -> None:
    """Raise ``error`` unless ``name`` (NFC, trimmed) has only letters, digits, single spaces and _ - ., and at least
    one letter or digit; ``noun`` says what is named ("A name", "A room name")."""
    previous: str | None = None
    for char in name:
        # default-ignorable characters are drawn as nothing, and some of them are letters (U+3164 HANGUL FILLER)
        # or marks (U+034F, variation selectors): refused, so two names never differ only invisibly
        invisible = is_default_ignorable(char)
        if invisible or not _name_char_ok(char, previous):
            category = unicodedata.category(char)
            visible = not invisible and char.isprintable() and not char.isspace() and not category.startswith("M")
            shown = repr(char) if visible else f"U+{ord(char):04X}"
            raise error(f"{noun} can only have letters, digits, spaces and _ - . (not {shown}).")
        previous = char
    if "  " in name:
        raise error(f"{noun} cannot have two spaces in a row.")
    if not any(unicodedata.category(char)[0] == "L" or unicodedata.category(char) == "Nd" for char in name):
        raise error(f"{noun} needs at least one letter or digit.")


def check_name(raw: str) -> str:
    """Return the trimmed display form of a user name, or raise InvalidName saying why."""
    name = unicodedata.normalize("NFC", raw.strip())
    if len(name) < NAME_MIN_LENGTH:
        raise InvalidName(f"A name needs at least {NAME_MIN_LENGTH} characters.")
    if len(name) > NAME_MAX_LENGTH:
        raise InvalidName(f"A name can have at most {NAME_MAX_LENGTH} characters.")
    check_characters(name, noun="A name")
    if _is_reserved(name):
        raise InvalidName(f"A name like {name!r} is reserved for the service. Pick another one.")
    return name
