"""Builds the backends and the service from Settings, and starts and stops them with the app."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from .bus import Bus, derive_key
from .bus.subscription import RedisClient, open_client
from .directory import RoomDirectory
from .embedded import CREDENTIALS, EmbeddedServers
from .errors import ChatError
from .health import Health
from .hub import Hub
from .metrics import Metrics
from .ratelimit import Limiter, SharedLimiter
from .service import ChatService, Limits
from .settings import Settings
from .storage import Dynamo, MarkerStore, MessageStore, RoomStore, TableNames, UserStore, connect, ensure_tables

log = logging.getLogger(__name__)

_BACKEND_NAMES = {"redis": "Redis", "dynamodb": "DynamoDB"}


def assemble(
    *,
    db: Dynamo,
    tables: TableNames,
    bus: Bus,
    settings: Settings,
    limiter: Limiter | None = None,
    metrics: Metrics | None = None,
    clock: Callable[[], float] = time.time,
    **hub_options: Any,
) -> ChatService:
    """The service and its hub on these backends: the one place that puts the parts together (the runtime and
    the tests both use it). ``hub_options`` go to the Hub (linger, intervals, memory size)."""
    metrics = metrics or Metrics()
    messages = MessageStore(db=db, tables=tables)
    hub = Hub(store=messages, bus=bus, metrics=metrics, **hub_options)
    return ChatService(
        users=UserStore(db=db, tables=tables),
        messages=messages,
        markers=MarkerStore(db=db, tables=tables),
        directory=RoomDirectory(store=RoomStore(db=db, tables=tables), lobby_id=settings.room),
        hub=hub,
        metrics=metrics,
        limits=Limits.from_settings(settings),
        limiter=limiter,
        clock=clock,
    )


class Runtime:
    """Everything with a connection or a task: made by ``open``, started and stopped by the app's lifecycle."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time, **hub_options: Any) -> None:
        """``clock`` and ``hub_options`` (see ``assemble``) let tests run a process on their own time."""
        self.settings = settings
        self.metrics = Metrics()
        self.embedded = EmbeddedServers() if settings.embedded else None
        endpoint: str | None
        credentials: tuple[str, str] | None
        if self.embedded is not None:
            endpoint, credentials = self.embedded.dynamodb_endpoint, CREDENTIALS
            self.redis: RedisClient = self.embedded.redis()
        else:
            assert settings.redis_url is not None
            endpoint, credentials = settings.dynamodb_endpoint, None
            self.redis = open_client(settings.redis_url, cluster=settings.redis_cluster)
        # embedded: one storage thread, since moto serves one request at a time anyway and is not thread-safe
        workers = {"workers": 1} if self.embedded is not None else {}
        self.dynamo: Dynamo = connect(endpoint=endpoint, region=settings.aws_region, credentials=credentials, **workers)
        # readiness probes get a client of their own: one thread, a short timeout, no retries
        self._probe_dynamo = connect(
            endpoint=endpoint, region=settings.aws_region, credentials=credentials, workers=1, timeout=1, attempts=1
        )
        self.tables = TableNames.with_prefix(settings.table_prefix)
        prefix = settings.table_prefix
        self.dynamo.on_call(
            lambda operation, table: self.metrics.dynamodb_calls.labels(operation, table.removeprefix(prefix)).inc()
        )
        self.storage_secret = settings.storage_secret or self._generated_secret()
        self.bus = Bus(
            redis=self.redis,
            namespace=settings.table_prefix,
            key=derive_key(self.storage_secret),
            metrics=self.metrics,
        )
        self.health = Health(dynamo=self._probe_dynamo, table=self.tables.messages, bus=self.bus)
        self.service = assemble(
            db=self.dynamo,
            tables=self.tables,
            bus=self.bus,
            settings=settings,
            limiter=SharedLimiter(redis=self.redis, namespace=settings.table_prefix),
            metrics=self.metrics,
            clock=clock,
            **hub_options,
        )
        self.hub = self.service.hub

    def _generated_secret(self) -> str:
        log.warning(
            "CHAT_STORAGE_SECRET is not set: using a random one, so browser sessions end when this process exits."
        )
        return secrets.token_urlsafe(32)

    def prepare(self) -> None:
        """Create missing tables (blocking; before the server takes requests). Raises StorageUnavailable."""
        ensure_tables(self.dynamo, self.tables)

    async def start(self) -> None:
        """Start the Redis subscriber, the periodic catch-up and the read markers; log whether each backend answered."""
        try:
            await self.service.directory.ensure_lobby()
        except ChatError as exc:  # the lobby works without its row; only look-alikes of its name go unchecked
            log.warning("start-up check: could not record the lobby as a room (%s)", exc)
        await self.hub.start(catch_up_interval=self.settings.catchup_interval_seconds)
        self.service.reads.start()
        for backend, problem in (await self.health.backends()).items():
            if problem is None:
                log.info("start-up check: %s answered", _BACKEND_NAMES[backend])
            else:
                log.warning("start-up check: %s did not answer (%s)", _BACKEND_NAMES[backend], problem)

    async def stop(self) -> None:
        self.health.drain()  # already, when a signal started the stop; not when the app stops itself
        await self.service.reads.stop()  # read markers still pending are written
        await self.hub.flush(within=2.0)  # announcements under way go out before the connections close
        await self.hub.stop()
        self.dynamo.close()
        self._probe_dynamo.close()
        if self.embedded is not None:
            self.embedded.stop()
