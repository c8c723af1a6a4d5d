"""Seals on bus events: Redis is a doorbell, not a source, and anyone who can reach it can publish.

Every event is sealed with an HMAC under a key derived from the deployment's secret, with the time it was sealed;
the subscriber drops whatever is not sealed by a process of this deployment in the last few minutes, so a forged
event or an old one replayed never reaches a view. One seal per event published, one check per event received:
never per tab.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from .. import events
from ..events import Event

# a sealed event older (or newer) than this is dropped as a replay; wide enough for clocks a little apart
MAX_EVENT_AGE_SECONDS = 300
_SEAL_VERSION = "v1"


def derive_key(secret: str) -> bytes:
    """The key that seals bus events, derived from the deployment's secret (never the secret itself)."""
    return hmac.new(secret.encode(), b"sinchchat bus events v1", hashlib.sha256).digest()


class Seal:
    """Seals events with ``key`` and checks the seals of events received, by ``clock``."""

    def __init__(self, *, key: bytes, clock: Callable[[], float]) -> None:
        self._key = key
        self._clock = clock

    def seal(self, event: Event) -> str:
        """The event as it travels: version, time, HMAC of time and body, then the JSON body."""
        body = events.encode(event)
        stamp = str(int(self._clock() * 1000))
        return f"{_SEAL_VERSION}.{stamp}.{self._mac(stamp, body)}.{body}"

    def unseal(self, raw: bytes | str) -> Event | None:
        """The event in ``raw`` if this deployment sealed it recently, else None."""
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        parts = text.split(".", 3)
        if len(parts) != 4 or parts[0] != _SEAL_VERSION or not parts[1].isascii() or not parts[1].isdigit():
            return None
        _, stamp, mac, body = parts
        if not hmac.compare_digest(mac, self._mac(stamp, body)):
            return None
        if abs(self._clock() - int(stamp) / 1000) > MAX_EVENT_AGE_SECONDS:
            return None
        try:
            return events.decode(body)
        except ValueError:
            return None

    def _mac(self, stamp: str, body: str) -> str:
        return hmac.new(self._key, f"{stamp}.{body}".encode(), hashlib.sha256).hexdigest()
