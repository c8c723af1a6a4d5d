"""Room names: the same hygiene as user names, 1 to 40 characters, one room per case fold, look-alikes share a key."""

from __future__ import annotations

import pytest

from chat.rooms import InvalidRoomName, Room, check_room_name, lookalike_key, room_id


@pytest.mark.parametrize("name", ["x", "General", "game night", "Café", "दिल्ली", "a" * 40, "v1.2_beta-3"])
def test_a_good_room_name_is_kept_as_typed(name: str) -> None:
    assert check_room_name(f"  {name} ") == name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "at least 1 character"),
        ("   ", "at least 1 character"),
        ("a" * 41, "at most 40 characters"),
        ("gen\u200beral", "U+200B"),  # an invisible character: two rooms would differ only invisibly
        ("gen\u202eeral", "U+202E"),  # a bidi override would draw the name backwards
        ("gen\x00eral", "U+0000"),
        ("a/b", "'/'"),  # would break the room's address
        ("..", "at least one letter or digit"),
        ("a  b", "two spaces"),
        ("<script>", "'<'"),
    ],
)
def test_a_bad_room_name_is_refused_saying_why(name: str, why: str) -> None:
    with pytest.raises(InvalidRoomName, match="room name") as refused:
        check_room_name(name)
    assert why in refused.value.message


def test_names_in_another_case_or_width_are_one_room() -> None:
    assert room_id("General") == room_id("GENERAL") == room_id("ｇｅｎｅｒａｌ") == "general"
    assert room_id("Straße") == room_id("STRASSE")


@pytest.mark.parametrize("lookalike", ["Genera1", "GENERAL", "G\u0435neral", "GeneraI", "Gener\u0430l"])
def test_look_alike_names_share_a_key(lookalike: str) -> None:
    # U+0435 and U+0430 are Cyrillic small e and a; "GeneraI" ends in a capital i
    assert lookalike_key(check_room_name(lookalike)) == lookalike_key("General")


@pytest.mark.parametrize("other", ["Generals", "Genre", "random"])
def test_different_names_have_different_keys(other: str) -> None:
    assert lookalike_key(other) != lookalike_key("General")


def test_a_room_address_is_the_lobby_or_its_encoded_id() -> None:
    assert Room(id="lobby", name="Lobby").path("lobby") == "/"
    assert Room(id="game night", name="Game night").path("lobby") == "/r/game%20night"
    assert Room(id="café", name="Café").path("lobby") == "/r/caf%C3%A9"


def test_a_short_name_whose_id_is_written_out_too_long_is_refused() -> None:
    # U+FDFA is one letter that NFKC writes out as 18 characters: the id, a DynamoDB key, must stay bounded
    assert len(room_id(check_room_name("\ufdfa" * 8))) == 144
    with pytest.raises(InvalidRoomName, match="too long once written out"):
        check_room_name("\ufdfa" * 9)
