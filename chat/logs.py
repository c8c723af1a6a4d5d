"""Logging set-up: one record, one line, whatever text a user typed (CWE-117)."""

from __future__ import annotations

import logging
import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


class SingleLineFormatter(logging.Formatter):
    """Escapes line breaks, other control characters and bidi overrides in the message part of a record.

    A user name or text that reaches a log line cannot start a forged line of its own. Tracebacks, which
    come from the code and not from users, keep their lines.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        return _CONTROL.sub(_escape, super().formatMessage(record))


def configure(level: int = logging.INFO) -> None:
    """Log to stderr, one line per record."""
    handler = logging.StreamHandler()
    handler.setFormatter(SingleLineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
