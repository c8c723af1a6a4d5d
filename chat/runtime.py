"""Builds the backends and the service from Settings, and starts and stops them with the app."""

from __future__ import annotations

import logging
import secrets

from redis.asyncio import Redis

from .bus import Bus, derive_key
from .embedded import CREDENTIALS, EmbeddedServers
from .feed import RoomFeed
from .ratelimit import SharedLimiter
from .service import ChatService, Limits
from .settings import Settings
from .storage import Dynamo, MessageStore, TableNames, UserStore, connect, ensure_tables

log = logging.getLogger(__name__)


class Runtime:
    """Everything with a connection or a task: made by ``open``, started and stopped by the app's lifecycle."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.embedded = EmbeddedServers() if settings.embedded else None
        if self.embedded is not None:
            # one storage thread: moto serves one request at a time anyway, and its transactions are not thread-safe
            self.dynamo: Dynamo = connect(
                endpoint=self.embedded.dynamodb_endpoint,
                region=settings.aws_region,
                credentials=CREDENTIALS,
                workers=1,
            )
            redis: Redis = self.embedded.redis()
        else:
            assert settings.redis_url is not None
            self.dynamo = connect(endpoint=settings.dynamodb_endpoint, region=settings.aws_region)
            redis = Redis.from_url(settings.redis_url, health_check_interval=10, socket_connect_timeout=2)
        self.tables = TableNames.with_prefix(settings.table_prefix)
        self.storage_secret = settings.storage_secret or self._generated_secret()
        self.bus = Bus(
            redis=redis, room=settings.room, namespace=settings.table_prefix, key=derive_key(self.storage_secret)
        )
        messages = MessageStore(db=self.dynamo, tables=self.tables)
        self.feed = RoomFeed(room=settings.room, store=messages, bus=self.bus)
        self.service = ChatService(
            users=UserStore(db=self.dynamo, tables=self.tables),
            messages=messages,
            feed=self.feed,
            limits=Limits(
                page_size=settings.page_size,
                max_page_size=max(100, settings.page_size),
                max_message_length=settings.max_message_length,
                session_ttl_seconds=settings.session_ttl_seconds,
                rate_per_second=settings.rate_per_second,
                rate_burst=settings.rate_burst,
                address_rate_per_second=settings.address_rate_per_second,
                address_rate_burst=settings.address_rate_burst,
                joins_per_minute=settings.joins_per_minute,
                join_burst=settings.join_burst,
            ),
            limiter=SharedLimiter(redis=redis, namespace=settings.table_prefix),
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
        """Start the Redis subscriber and the periodic catch-up."""
        await self.feed.start(catch_up_interval=self.settings.catchup_interval_seconds)

    async def stop(self) -> None:
        await self.feed.flush(within=2.0)  # announcements under way go out before the connections close
        await self.feed.stop()
        self.dynamo.close()
        if self.embedded is not None:
            self.embedded.stop()
