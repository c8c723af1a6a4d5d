from datetime import UTC, datetime, timedelta

import pytest

from chat.errors import InvalidName, InvalidText
from chat.models import KeyClock, Message, clean_text, is_message_key, key_time, new_message_key
from chat.names import alias_key, check_name


@pytest.mark.parametrize(
    ("raw", "display"),
    [
        ("  Alice ", "Alice"),
        ("bob_smith-2.0", "bob_smith-2.0"),
        ("Zoë", "Zoë"),
        ("Мария", "Мария"),
        ("李小龙", "李小龙"),
        ("नमस्ते", "नमस्ते"),
        ("Ana María", "Ana María"),
        ("ab", "ab"),
        ("x" * 32, "x" * 32),
    ],
)
def test_valid_names_are_trimmed_and_kept(raw: str, display: str) -> None:
    assert check_name(raw) == display


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "at least 2"),
        ("   a  ", "at least 2"),
        ("x" * 33, "at most 32"),
        ("bob!", "'!'"),
        ("<script>", "'<'"),
        ("a\u200bb", "U+200B"),
        ("ad\u202emin", "U+202E"),
        ("tab\there", "U+0009"),
        ("two  spaces", "two spaces"),
        ("\u0301ab", "U+0301"),
    ],
)
def test_invalid_names_are_refused_with_the_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidName) as info:
        check_name(raw)
    assert reason in info.value.message


def test_names_compare_after_nfkc_and_case_folding() -> None:
    assert alias_key("Alice") == alias_key("alice") == alias_key("ALICE")
    assert alias_key("Straße") == alias_key("STRASSE")
    assert alias_key("ｆｕｌｌ") == alias_key("full")  # fullwidth letters (NFKC)
    assert alias_key("Alice") != alias_key("Alicia")


def test_text_is_trimmed_and_control_characters_removed_but_newlines_and_tabs_kept() -> None:
    assert clean_text("  hi\tthere\nfriend \x00\x07 ", max_length=100) == "hi\tthere\nfriend"


@pytest.mark.parametrize("raw", ["", "   ", "\n\t", "\x00\x01"])
def test_empty_text_is_refused(raw: str) -> None:
    with pytest.raises(InvalidText, match="empty"):
        clean_text(raw, max_length=100)


def test_text_over_the_limit_is_refused_with_both_numbers() -> None:
    assert clean_text("x" * 2000, max_length=2000) == "x" * 2000
    with pytest.raises(InvalidText) as info:
        clean_text("x" * 2001, max_length=2000)
    assert "2,001" in info.value.message
    assert "2,000" in info.value.message


def test_html_and_emoji_are_kept_verbatim() -> None:
    text = "<img src=x onerror=alert(1)> 👩‍👩‍👧 𝔘"
    assert clean_text(text, max_length=100) == text


def test_message_keys_sort_by_time_and_carry_it() -> None:
    start = datetime(2026, 1, 31, 23, 59, 59, 998_000, tzinfo=UTC)
    moments = [start + timedelta(milliseconds=i) for i in range(10)]  # crosses a ms, s, day and month
    keys = [new_message_key(m) for m in moments]
    assert sorted(keys) == [k for _, k in sorted(zip(moments, keys, strict=True))]
    assert [key_time(k) for k in keys] == [m.replace(microsecond=m.microsecond // 1000 * 1000) for m in moments]
    same_ms = {new_message_key(start) for _ in range(1000)}
    assert len(same_ms) == 1000
    assert all(is_message_key(k) for k in same_ms)
    assert not is_message_key("2024-01-01T00:00:00.000Z")
    assert not is_message_key("nonsense")


@pytest.mark.parametrize(
    "key",
    [
        "2026-01-01T00:00:00.000Z#0123456789abcdef\n",  # a trailing newline
        "2026-99-01T00:00:00.000Z#0123456789abcdef",  # month 99
        "2026-02-29T00:00:00.000Z#0123456789abcdef",  # not a leap year
        "2026-01-01T24:00:00.000Z#0123456789abcdef",
        "٢٠٢٦-٠١-٠١T00:00:00.000Z#0123456789abcdef",  # Arabic-Indic digits
        "２０２６-01-01T00:00:00.000Z#0123456789abcdef",  # full-width digits
        "2026-01-01T00:00:00.000Z#0123456789ABCDEF",
        " 2026-01-01T00:00:00.000Z#0123456789abcdef",
    ],
)
def test_keys_are_parsed_strictly(key: str) -> None:
    assert not is_message_key(key)
    assert key_time(key) is None
    with pytest.raises(ValueError, match="not a message key"):
        Message.from_json({"room": "lobby", "key": key, "author": "A", "author_id": "a", "text": "t"})


def test_message_json_round_trip() -> None:
    message = Message(
        room="lobby", key=new_message_key(), author="Zoë", author_id="1f", text="hi <b>", nonce="n-123456"
    )
    assert Message.from_json(message.to_json()) == message
    assert message.to_json()["created_at"].endswith("Z")


def test_keys_of_one_process_strictly_increase_even_in_one_millisecond() -> None:
    clock = KeyClock()
    moment = datetime(2026, 5, 1, 12, 0, 0, 123_456, tzinfo=UTC)
    keys = [clock.key(moment) for _ in range(10_000)]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    assert all(is_message_key(k) for k in keys)
    assert {k.partition("#")[0] for k in keys} == {"2026-05-01T12:00:00.123Z"}
    # a clock that steps back never makes an older key than one already given
    assert clock.key(moment - timedelta(seconds=5)) > keys[-1]
    assert clock.key(moment + timedelta(milliseconds=1)).startswith("2026-05-01T12:00:00.124Z#")
