"""Log lines: text or JSON, one line per record whatever a user typed, and CHAT_LOG_FORMAT checked at start-up."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from chat.logs import formatter
from chat.settings import Settings, SettingsError

HOSTILE = "Eve\nWARNING forged line\r\u2028\u202eevil\x7f\x1b[31m"


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter("json"))
    logger = logging.getLogger("chat.test_logs")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    yield logger, stream
    logger.removeHandler(handler)
    logger.propagate = True


def test_json_lines_have_time_level_logger_and_message(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    logger.info("session started for %r", "alice")
    (line,) = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert set(entry) == {"time", "level", "logger", "message"}
    assert (entry["level"], entry["logger"]) == ("INFO", "chat.test_logs")
    assert entry["message"] == "session started for 'alice'"
    assert entry["time"].endswith("+00:00")
    assert "T" in entry["time"]


def test_json_keeps_a_hostile_name_and_a_traceback_on_one_line(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        logger.exception("failed for %s", HOSTILE)
    text = stream.getvalue()
    # str.splitlines() also breaks at U+2028, \x1c-\x1e and \x85: none of them may reach the output raw
    (line,) = text.splitlines()
    assert "\u202e" not in line
    assert "\x7f" not in line
    assert "\x1b" not in line
    entry = json.loads(line)
    assert entry["message"] == f"failed for {HOSTILE}"
    assert entry["exception"].startswith("Traceback")
    assert "ValueError: boom\nsecond line" in entry["exception"]


def test_text_lines_escape_what_a_user_typed() -> None:
    record = logging.LogRecord("chat", logging.WARNING, __file__, 1, "name %s", (HOSTILE,), None)
    line = formatter("text").format(record)
    assert len(line.splitlines()) == 1
    assert "\\n" in line
    assert "\\u2028" in line


@pytest.mark.parametrize(("raw", "expected"), [("", "text"), ("json", "json"), ("JSON", "json"), ("text", "text")])
def test_log_format_is_read_from_the_environment(raw: str, expected: str) -> None:
    assert Settings.from_env({"CHAT_LOG_FORMAT": raw}).log_format == expected


def test_an_unknown_log_format_stops_start_up_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match="CHAT_LOG_FORMAT must be text or json"):
        Settings.from_env({"CHAT_LOG_FORMAT": "xml"})


def test_metrics_public_is_off_unless_set() -> None:
    assert not Settings.from_env({}).metrics_public
    assert Settings.from_env({"CHAT_METRICS_PUBLIC": "1"}).metrics_public
