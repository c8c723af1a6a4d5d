"""Builds the backends and the service from Settings, and starts and stops them with the app."""

from __future__ import annotations

import logging
import secrets

from .bus import Bus, derive_key
from .embedded import CREDENTIALS, EmbeddedServers
from .feed import RoomFeed
from .health import Health
from .metrics import Metrics
from .ratelimit import SharedLimiter
from .service import ChatService, Limits
from .settings import Settings
from .storage import Dynamo, MessageStore, TableNames, UserStore, connect, ensure_tables
from .subscription import RedisClient, open_client

log = logging.getLogger(__name__)

_BACKEND_NAMES = {"redis": "Redis", "dynamodb": "DynamoDB"}


class Runtime:
    """Everything with a connection or a task: made by ``open``, started and stopped by the app's lifecycle."""

    def __init__(self, settings: Settings) -> None:
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
        self.storage_secret = settings.storage_secret or self._generated_secret()
        self.bus = Bus(
            redis=self.redis,
            room=settings.room,
            namespace=settings.table_prefix,
            key=derive_key(self.storage_secret),
            metrics=self.metrics,
        )
        messages = MessageStore(db=self.dynamo, tables=self.tables)
        self.feed = RoomFeed(room=settings.room, store=messages, bus=self.bus, metrics=self.metrics)
        self.health = Health(dynamo=self._probe_dynamo, table=self.tables.messages, bus=self.bus)
        self.service = ChatService(
            users=UserStore(db=self.dynamo, tables=self.tables),
            messages=messages,
            feed=self.feed,
            metrics=self.metrics,
            limits=Limits.from_settings(settings),
            limiter=SharedLimiter(redis=self.redis, namespace=settings.table_prefix),
        )

    def _generated_secret(self) -> str:
        log.warning(
            "CHAT_STORAGE_SECRET is not set: using a random one, so browser sessions end when this process exits."
        )
        return secrets.token_urlsafe(32)

    def prepare(self) -> None:
        """Create missing tables (blocking; before the server takes requests). Raises StorageUnavailable."""
        ensure_tables(self.dynamo, self.tables)

    async def start(self) -> None:
        """Start the Redis subscriber and the periodic catch-up; log whether each backend answered."""
        await self.feed.start(catch_up_interval=self.settings.catchup_interval_seconds)
        for backend, problem in (await self.health.backends()).items():
            if problem is None:
                log.info("start-up check: %s answered", _BACKEND_NAMES[backend])
            else:
                log.warning("start-up check: %s did not answer (%s)", _BACKEND_NAMES[backend], problem)

    async def stop(self) -> None:
        self.health.drain()  # already, when a signal started the stop; not when the app stops itself
        await self.feed.flush(within=2.0)  # announcements under way go out before the connections close
        await self.feed.stop()
        self.dynamo.close()
        self._probe_dynamo.close()
        if self.embedded is not None:
            self.embedded.stop()
