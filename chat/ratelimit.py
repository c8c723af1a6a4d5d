"""A token bucket per sender, kept in this process (sticky sessions keep a sender on one process)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from .errors import RateLimited


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Allows ``rate`` messages per second on average and bursts of ``burst``."""

    def __init__(self, *, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, sender: str) -> None:
        """Spend one token of ``sender``'s bucket or raise RateLimited with the wait until the next one."""
        now = self._clock()
        bucket = self._buckets.get(sender)
        if bucket is None:
            if len(self._buckets) > 10_000:
                self._prune(now)
            bucket = self._buckets[sender] = _Bucket(tokens=self._burst, updated=now)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
        bucket.updated = now
        if bucket.tokens < 1.0:
            raise RateLimited.for_wait((1.0 - bucket.tokens) / self._rate)
        bucket.tokens -= 1.0

    def _prune(self, now: float) -> None:
        """Forget senders whose buckets have refilled: they are indistinguishable from new ones."""
        full_after = self._burst / self._rate
        self._buckets = {k: b for k, b in self._buckets.items() if now - b.updated < full_after}
