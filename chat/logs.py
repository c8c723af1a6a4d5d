"""Logging set-up: one record, one line, whatever text a user typed (CWE-117); as text or as JSON."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# what json.dumps leaves as it is but a log reader may still take for a line break or a change of direction
_JSON_UNSAFE = re.compile(r"[\x7f\u0085\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


class SingleLineFormatter(logging.Formatter):
    """Escapes line breaks, other control characters and bidi overrides in the message part of a record.

    A user name or text that reaches a log line cannot start a forged line of its own. Tracebacks, which
    come from the code and not from users, keep their lines.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        return _CONTROL.sub(_escape, super().formatMessage(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, and ``exception``
    (the traceback) when there is one. Every line break, in the message or the traceback, is escaped."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return _JSON_UNSAFE.sub(_json_escape, json.dumps(entry, ensure_ascii=False))


def formatter(log_format: str = "text") -> logging.Formatter:
    """The formatter for ``CHAT_LOG_FORMAT`` ("text" or "json")."""
    if log_format == "json":
        return JsonFormatter()
    return SingleLineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")


def configure(level: int = logging.INFO, *, log_format: str = "text") -> None:
    """Log to stderr, one line per record; uvicorn's loggers write through the same handler."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(log_format))
    logging.basicConfig(level=level, handlers=[handler], force=True)
