"""Readiness: can this process serve a chat right now? DynamoDB, Redis, the subscriber, and not shutting down.

The answer is what a load balancer or an orchestrator asks for every few seconds, so it is cached for a second
and every probe has a short timeout: a flood of probes costs the backends at most one call each a second, and a
frozen backend makes the answer "unready" within about a second instead of hanging the prober.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

from .bus import Bus
from .bus.subscription import REDIS_FAILURES
from .errors import StorageUnavailable
from .storage import Dynamo

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Readiness:
    """Empty ``reasons`` means ready; each reason names the part and what is wrong, e.g. "redis: no answer"."""

    reasons: tuple[str, ...]

    @property
    def ready(self) -> bool:
        return not self.reasons

    def to_json(self) -> dict[str, Any]:
        if self.ready:
            return {"status": "ready"}
        return {"status": "unready", "reasons": list(self.reasons)}


class Health:
    """Probes the backends (cached, bounded in time) and knows whether the process is shutting down.

    ``dynamo`` should be a client of its own with short timeouts and no retries, so that a slow DynamoDB never
    holds the threads of the requests. Reasons name the kind of failure only: the details, which can hold
    addresses, go to the log.
    """

    def __init__(
        self,
        *,
        dynamo: Dynamo,
        table: str,
        bus: Bus,
        timeout: float = 1.0,
        cache_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._dynamo = dynamo
        self._table = table
        self._bus = bus
        self._timeout = timeout
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._lock = asyncio.Lock()
        self._backends: tuple[tuple[str, ...], float] | None = None  # (reasons, when probed)
        self._dynamodb_call: asyncio.Future[Any] | None = None
        self._was_ready = False  # a process starts unready: only reaching readiness, and losing it, is news
        self.draining = False

    def drain(self) -> None:
        """The process is stopping: from now on readiness says so, whatever the backends answer."""
        if not self.draining:
            self.draining = True
            log.info("shutting down: readiness now answers 503")

    async def ready(self) -> Readiness:
        """The process's readiness; the backends are probed at most once per ``cache_seconds``."""
        reasons: list[str] = []
        if self.draining:
            reasons.append("process: shutting down")
        if not self._bus.connected.is_set():
            reasons.append("subscriber: not subscribed")
        reasons.extend(await self._backend_reasons())
        readiness = Readiness(tuple(reasons))
        if readiness.ready != self._was_ready:  # log the changes, not every probe
            self._was_ready = readiness.ready
            if readiness.ready:
                log.info("ready: DynamoDB and Redis answer and the subscriber is subscribed")
            else:
                log.warning("not ready: %s", "; ".join(readiness.reasons))
        return readiness

    async def backends(self) -> dict[str, str | None]:
        """Probe Redis and DynamoDB now (uncached): for each, None when it answered, else why not."""
        redis, dynamodb = await asyncio.gather(self._probe_redis(), self._probe_dynamodb())
        return {"redis": redis, "dynamodb": dynamodb}

    def drain_on_signals(self) -> None:
        """Wrap the running server's SIGTERM and SIGINT handlers so that readiness turns 503 the moment a stop
        is asked for, before the server closes its listener and its sockets. Call it once the server runs.
        """
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers belong to the main thread; without them only the server's own stop applies
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(sig)
            if not callable(previous):
                continue

            def handler(signum: int, frame: FrameType | None, previous: Callable[..., Any] = previous) -> None:
                self.drain()
                previous(signum, frame)

            signal.signal(sig, handler)

    async def _backend_reasons(self) -> tuple[str, ...]:
        async with self._lock:  # concurrent probes wait for the one in flight and share its answer
            now = self._clock()
            if self._backends is not None and now - self._backends[1] < self._cache_seconds:
                return self._backends[0]
            answers = await self.backends()
            reasons = tuple(f"{name}: {reason}" for name, reason in answers.items() if reason is not None)
            self._backends = (reasons, self._clock())
            return reasons

    async def _probe_redis(self) -> str | None:
        try:
            async with asyncio.timeout(self._timeout):
                await self._bus.ping()
        except TimeoutError:
            return f"no answer within {self._timeout:g} s"
        except REDIS_FAILURES as exc:
            log.debug("readiness: Redis PING failed: %s", exc)
            return f"{type(exc).__name__}"
        return None

    async def _probe_dynamodb(self) -> str | None:
        # one call at a time: a call still hanging from an earlier probe is awaited again, never piled up
        call = self._dynamodb_call
        if call is None or call.done():
            call = self._dynamodb_call = asyncio.ensure_future(
                self._dynamo.run(self._dynamo.client.describe_table, TableName=self._table)
            )
            call.add_done_callback(_retrieve)
        try:
            await asyncio.wait_for(asyncio.shield(call), self._timeout)
        except TimeoutError:
            return f"no answer within {self._timeout:g} s"
        except StorageUnavailable as exc:
            return type(exc.__cause__ or exc).__name__
        return None


def _retrieve(future: asyncio.Future[Any]) -> None:
    """A call that ended after its probe stopped waiting: its error was reported as a timeout already."""
    if not future.cancelled():
        future.exception()
