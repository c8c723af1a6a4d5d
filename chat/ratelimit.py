"""Rate limits shared by every process through Redis, with this process's own count while Redis is away.

Each limit is a GCRA bucket (the generic cell rate algorithm, a token bucket kept as one timestamp): ``burst``
actions at once, then one every ``1 / per_second`` seconds. One call spends from several buckets (a session's and
its address's) all or nothing, so a refusal by one never uses up another.

In Redis each bucket is spent by a script of its own, atomically: a call's buckets live under keys that hash to
different slots, which one script may not touch together on a cluster. When one bucket refuses, what the others
spent is given back. Between the spend and the refund another call on such a bucket may be refused a moment too
early, never allowed too much; the keys stay what they were on one server, so nothing else changes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from .bus.subscription import REDIS_FAILURES, RedisClient
from .errors import RateLimited

log = logging.getLogger(__name__)

_MICROS = 1_000_000
# how long a call may wait for Redis before this process counts alone, and how long it then counts alone
REDIS_TIMEOUT = 0.2
_LOCAL_FOR = 1.0
_LOCAL_BUCKETS = 10_000

# KEYS: one bucket; ARGV: its emission interval and burst tolerance, in microseconds. Returns 0 when the bucket
# had room (and spends from it), else the microseconds to wait (and spends nothing). Redis's own clock, so
# processes with skewed clocks agree.
_SPEND = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat + interval - tonumber(ARGV[2]) - now
if wait > 0 then return math.ceil(wait) end
redis.call('SET', KEYS[1], string.format('%.0f', tat + interval), 'PX', math.ceil((tat + interval - now) / 1000))
return 0
"""
# KEYS: one bucket; ARGV: its emission interval. Gives back one action spent by _SPEND.
_REFUND = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') - tonumber(ARGV[1])
if tat <= now then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000))
end
return 0
"""


@dataclass(frozen=True, slots=True)
class Rate:
    """``burst`` actions at once, then ``per_second`` on average."""

    per_second: float
    burst: int

    @property
    def interval(self) -> int:
        """Microseconds between two actions at the steady rate."""
        return max(1, round(_MICROS / self.per_second))

    @property
    def tolerance(self) -> int:
        return self.interval * self.burst


Bucket = tuple[str, Rate]  # a key (whose actions: a session's digest, an address) and its rate


class Limiter(Protocol):
    async def take(self, buckets: Sequence[Bucket], *, joining: bool = False) -> None:
        """Spend from every bucket or raise RateLimited saying how long to wait."""


def refusal(wait: float, *, joining: bool = False) -> RateLimited:
    """A rate-limit refusal; its wording lives with RateLimited, so the text and Retry-After agree."""
    return RateLimited.for_wait(wait, joining=joining)


class LocalLimiter:
    """The buckets of this process alone, in memory: the same arithmetic as the Redis script."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tats: dict[str, int] = {}  # key -> theoretical arrival time, microseconds

    def wait(self, buckets: Sequence[Bucket]) -> float:
        """Spend from every bucket and return 0, or return the seconds to wait and spend nothing."""
        now = round(self._clock() * _MICROS)
        if len(self._tats) > _LOCAL_BUCKETS:
            self._tats = {key: tat for key, tat in self._tats.items() if tat > now}  # the rest are full again
        next_tats = [max(self._tats.get(key, 0), now) + rate.interval for key, rate in buckets]
        wait = max((tat - rate.tolerance - now for tat, (_, rate) in zip(next_tats, buckets, strict=True)), default=0)
        if wait > 0:
            return wait / _MICROS
        for tat, (key, _) in zip(next_tats, buckets, strict=True):
            self._tats[key] = tat
        return 0.0

    async def take(self, buckets: Sequence[Bucket], *, joining: bool = False) -> None:
        """Spend from every bucket or raise RateLimited saying how long to wait."""
        wait = self.wait(buckets)
        if wait > 0:
            raise refusal(wait, joining=joining)


class SharedLimiter:
    """Buckets in Redis, shared by every process; while Redis does not answer, this process counts alone.

    Counting alone lets a sender spread over N processes through N times faster; that is the price of posting
    on while Redis is away, and it is logged once when it starts and once when it ends.
    """

    def __init__(
        self,
        *,
        redis: RedisClient,
        namespace: str = "",
        timeout: float = REDIS_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._spend = redis.register_script(_SPEND)
        self._refund = redis.register_script(_REFUND)
        self._prefix = f"sinchchat:{namespace}limit:"
        self._timeout = timeout
        self._clock = clock
        self.local = LocalLimiter(clock=clock)
        self._local_until: float | None = None  # set while Redis is away: when to ask it again

    async def take(self, buckets: Sequence[Bucket], *, joining: bool = False) -> None:
        """Spend from every bucket or raise RateLimited saying how long to wait."""
        wait = await self._shared_wait(buckets)
        if wait is None:
            wait = self.local.wait(buckets)
        if wait > 0:
            raise refusal(wait, joining=joining)

    async def _shared_wait(self, buckets: Sequence[Bucket]) -> float | None:
        """The wait Redis decided, or None when it cannot be asked now."""
        if self._local_until is not None and self._clock() < self._local_until:
            return None
        keyed = [(self._prefix + key, rate) for key, rate in buckets]
        try:
            async with asyncio.timeout(self._timeout):
                waits = await asyncio.gather(*(self._spend(keys=[k], args=[r.interval, r.tolerance]) for k, r in keyed))
                refused = max((int(w) for w in waits), default=0)
                if refused:
                    spent = [(k, r) for (k, r), w in zip(keyed, waits, strict=True) if int(w) == 0]
                    await asyncio.gather(*(self._refund(keys=[k], args=[r.interval]) for k, r in spent))
        except REDIS_FAILURES as exc:  # a timeout too: TimeoutError is an OSError
            if self._local_until is None:
                reason = str(exc) or f"{type(exc).__name__}, no answer within {self._timeout:g} s"
                log.warning("rate limits are counted by this process alone until Redis answers: %s", reason)
            self._local_until = self._clock() + _LOCAL_FOR
            return None
        if self._local_until is not None:
            log.info("Redis answers again: rate limits are shared by every process again")
            self._local_until = None
        return refused / _MICROS
