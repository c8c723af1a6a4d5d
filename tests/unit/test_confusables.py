"""Look-alike names: the UTS #39 skeleton, the name key built on it, and the service refusing a look-alike."""

import asyncio

import pytest

from chat.confusables import UNICODE_VERSION, confusable, is_default_ignorable, prototype, skeleton
from chat.errors import InvalidName, NameTaken
from chat.models import Session
from chat.names import NAME_MAX_LENGTH, alias_key, check_name, name_key
from chat.service import ChatService

# -- skeleton ---------------------------------------------------------------------------------------------


def test_the_data_is_a_recent_unicode_version() -> None:
    assert tuple(int(part) for part in UNICODE_VERSION.split(".")) >= (15, 0, 0)


@pytest.mark.parametrize(
    ("char", "drawn_like"),
    [
        ("\u0430", "a"),  # CYRILLIC SMALL LETTER A
        ("\u0440", "p"),  # CYRILLIC SMALL LETTER ER
        ("\u03bf", "o"),  # GREEK SMALL LETTER OMICRON
        ("\u0410", "A"),  # CYRILLIC CAPITAL LETTER A
        ("\u041d", "H"),  # CYRILLIC CAPITAL LETTER EN
        ("0", "O"),
        ("1", "l"),
        ("I", "l"),
        ("m", "rn"),
        ("\uff41", "a"),  # FULLWIDTH LATIN SMALL LETTER A
        ("\U0001d41a", "a"),  # MATHEMATICAL BOLD SMALL A
        ("a", "a"),  # a prototype maps to itself
    ],
)
def test_prototypes_come_from_confusables_txt(char: str, drawn_like: str) -> None:
    assert prototype(char) == drawn_like


def test_skeleton_follows_uts39_nfd_map_nfd() -> None:
    assert skeleton("\u0440\u0430ypal") == skeleton("paypal") == "paypal"
    assert skeleton("é") == "e\u0301"  # NFD before and after the mapping
    assert skeleton("\u0435\u0301") == "e\u0301"  # Cyrillic e + combining acute: the same skeleton as é
    assert skeleton("a\u200bb\u2060c\ufeff") == "abc"  # default-ignorable code points vanish
    assert skeleton("vernon") == skeleton("vemon")
    assert skeleton("") == ""


def test_skeleton_is_idempotent_on_printable_ascii() -> None:
    for code in range(0x20, 0x7F):
        once = skeleton(chr(code))
        assert skeleton(once) == once, chr(code)


def test_confusable_is_case_sensitive_as_in_uts39() -> None:
    assert confusable("\u0410pple", "Apple")
    assert not confusable("Apple", "apple")
    assert not confusable("Alice", "Alicia")


@pytest.mark.parametrize(
    "char",
    [
        "\u00ad",  # SOFT HYPHEN
        "\u034f",  # COMBINING GRAPHEME JOINER (a mark)
        "\u061c",  # ARABIC LETTER MARK
        "\u115f",  # HANGUL CHOSEONG FILLER (a letter)
        "\u17b4",  # KHMER VOWEL INHERENT AQ (a mark)
        "\u180b",  # MONGOLIAN FREE VARIATION SELECTOR ONE
        "\u180e",  # MONGOLIAN VOWEL SEPARATOR
        "\u200b",  # ZERO WIDTH SPACE
        "\u200d",  # ZERO WIDTH JOINER
        "\u200f",  # RIGHT-TO-LEFT MARK
        "\u202e",  # RIGHT-TO-LEFT OVERRIDE
        "\u2060",  # WORD JOINER
        "\u2066",  # LEFT-TO-RIGHT ISOLATE
        "\u3164",  # HANGUL FILLER (a letter)
        "\ufe0f",  # VARIATION SELECTOR-16
        "\ufeff",  # ZERO WIDTH NO-BREAK SPACE
        "\uffa0",  # HALFWIDTH HANGUL FILLER
        "\U000e0041",  # TAG LATIN CAPITAL LETTER A
        "\U000e0100",  # VARIATION SELECTOR-17
    ],
)
def test_default_ignorable_code_points(char: str) -> None:
    assert is_default_ignorable(char)


@pytest.mark.parametrize("char", ["a", " ", "\u00a0", "\u0301", "\u3000", "\U0001f600", "\U0010ffff"])
def test_visible_or_spacing_characters_are_not_default_ignorable(char: str) -> None:
    assert not is_default_ignorable(char)


# -- name_key ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("live", "look_alike"),
    [
        ("alice", "\u0430lice"),  # Cyrillic small a
        ("ALICE", "\u0410LICE"),  # Cyrillic capital A
        ("alice", "al\u0456ce"),  # Cyrillic small dotted i
        ("Alice", "\ua4eelice"),  # LISU LETTER A, drawn like a capital A
        ("paypal", "\u0440\u0430ypal"),
        ("Harry", "\u041darry"),  # Cyrillic capital EN: only the capitals look alike
        ("Tom", "\u0422om"),  # Cyrillic capital TE
        ("Nick", "\u039dick"),  # Greek capital NU
        ("Maria", "\u041caria"),  # Cyrillic capital EM
        ("scott", "\u0455cott"),  # Cyrillic dze
        ("Ian", "lan"),  # capital I and small l
        ("BOB", "B0B"),  # zero and capital O
        ("bill", "bi11"),  # digit one and small l
        ("vernon", "vemon"),  # rn and m
        ("full", "\uff46\uff55\uff4c\uff4c"),  # fullwidth (NFKC)
        ("Alice", "ALICE"),  # case
        ("Straße", "STRASSE"),  # full case folding
        ("Zoë", "Zoe\u0308"),  # composed or not (NFC/NFD)
        ("ab", "\U0001d41a\U0001d41b"),  # mathematical bold letters
    ],
)
def test_look_alike_names_share_a_key(live: str, look_alike: str) -> None:
    assert live != look_alike
    assert name_key(live) == name_key(look_alike) or alias_key(live) == alias_key(look_alike)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Alice", "Alicia"),
        ("Zoë", "Zoe"),
        ("Мария", "Марина"),
        ("李小龙", "李小虎"),
        ("Ana María", "Ana Maria"),
        ("bob", "rob"),
        ("a_b", "a-b"),
        ("a b", "a.b"),
        ("नमस्ते", "नमस्कार"),
        ("All", "Ali"),  # "l" and "i" only look alike as capitals
        ("ALL", "Ali"),
        ("\u0410LICE", "Alice"),  # looks like ALICE, which is not Alice
    ],
)
def test_names_that_look_different_keep_different_keys(first: str, second: str) -> None:
    assert name_key(first) != name_key(second)
    assert alias_key(first) != alias_key(second)


def test_the_longest_key_fits_a_dynamodb_key() -> None:
    # U+FDFA is one letter that NFKC spells with 18; it is the longest key a single allowed character makes
    name = check_name("\ufdfa" * NAME_MAX_LENGTH)
    assert len(name_key(name).encode()) <= 2048
    assert len(alias_key(name).encode()) <= 2048


# -- check_name -------------------------------------------------------------------------------------------

INVISIBLE = [
    "\u200b",
    "\u200c",
    "\u200d",
    "\u200e",
    "\u2060",
    "\ufeff",
    "\u202e",
    "\u2066",
    "\u2069",
    "\u00ad",
    "\u180e",
    "\u061c",
    "\u3164",  # a letter (Lo) that draws nothing
    "\u115f",
    "\uffa0",
    "\u034f",  # a mark (Mn) that draws nothing
    "\ufe0f",
    "\u17b4",
    "\U000e0041",
]


@pytest.mark.parametrize("char", INVISIBLE, ids=[f"U+{ord(c):04X}" for c in INVISIBLE])
@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_invisible_characters_are_refused_anywhere_in_a_name(char: str, where: str) -> None:
    raw = {"start": f"{char}alice", "middle": f"al{char}ice", "end": f"alice{char}"}[where]
    with pytest.raises(InvalidName) as info:
        check_name(raw)
    assert f"U+{ord(char):04X}" in info.value.message


@pytest.mark.parametrize(
    "name",
    ["Zoë", "Мария", "李小龙", "नमस्ते", "José", "Nguyễn", "Đorđe", "محمد", "דוד", "Ελένη", "김민준", "さくら", "Ægir"],
)
def test_names_in_many_scripts_are_kept(name: str) -> None:
    assert check_name(name) == name


def test_an_apostrophe_is_not_a_name_character() -> None:
    with pytest.raises(InvalidName) as info:
        check_name("O'Neil")
    assert '(not "\'")' in info.value.message


# -- the service on moto ----------------------------------------------------------------------------------


async def test_a_look_alike_of_a_live_name_is_refused(memory_service: ChatService) -> None:
    alice = await memory_service.register("alice")
    for look_alike in ["\u0430lice", "al\u0456ce", "ALICE", "\uff41lice"]:
        with pytest.raises(NameTaken, match="too similar to 'alice', who is online"):
            await memory_service.register(look_alike)
    await memory_service.logout(alice)
    cyrillic = await memory_service.register("\u0430lice")  # free again once alice has left
    assert cyrillic.name == "\u0430lice"
    assert (await memory_service.resume(cyrillic.token, name="\u0430lice")).token == cyrillic.token


async def test_of_100_concurrent_claims_in_look_alike_spellings_exactly_one_wins(
    memory_service: ChatService,
) -> None:
    # one skeleton: every two of these look alike
    spellings = ["alice", "\u0430lice", "al\u0456ce", "\uff41lice", "a\u04cfice", "\u0430l\u0456ce"]
    claims = [spellings[i % len(spellings)] for i in range(100)]
    results = await asyncio.gather(*(memory_service.register(name) for name in claims), return_exceptions=True)
    winners = [r for r in results if isinstance(r, Session)]
    losers = [r for r in results if isinstance(r, NameTaken)]
    assert len(winners) == 1
    assert len(losers) == 99
    winner = winners[0]
    assert (await memory_service.resume(winner.token, name=winner.name)).token == winner.token
    assert (await memory_service.resume(winner.token)).token == winner.token
