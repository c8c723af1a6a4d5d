"""App "processes" on the real services, and the tables and rooms they share in one test.

A ``Node`` is what one app process holds, built by the app's own chat.runtime.Runtime from Settings: its own
DynamoDB client (and thread pool), its own Redis client, Bus, RoomFeed and ChatService. Several nodes in one test
stand for several processes behind the load balancer.
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from chat.bus import Bus
from chat.feed import RoomFeed
from chat.models import Message
from chat.runtime import Runtime
from chat.service import ChatService, Limits
from chat.settings import Settings
from chat.storage import Dynamo, MessageStore, TableNames, UserStore, ensure_tables
from tests.helpers import wait_for

from .servers import REGION

# no test here is about the rate limit: the senders go as fast as the services let them
FAST = Limits.from_settings(Settings(rate_per_second=10_000, rate_burst=10_000))


def unique_room() -> str:
    """A room of its own: the Redis channel and the DynamoDB partition are named after it."""
    return f"it-{uuid.uuid4().hex[:12]}"


def create_tables(db: Dynamo) -> TableNames:
    tables = TableNames.with_prefix(f"it{uuid.uuid4().hex[:10]}_")
    ensure_tables(db, tables)
    return tables


def drop_tables(db: Dynamo, tables: TableNames) -> None:
    """Delete the test's tables so the shared DynamoDB Local does not fill up; a failure here fails nothing."""
    for name in dataclasses.astuple(tables):  # every table, those added later too
        with contextlib.suppress(BotoCoreError, ClientError):
            db.client.delete_table(TableName=name)


@dataclass
class Node:
    """One app process, built by chat.runtime.Runtime as main.py builds it: its own DynamoDB client (and thread
    pool), its own Redis client, Bus, RoomFeed and ChatService."""

    name: str
    runtime: Runtime
    service: ChatService

    @property
    def feed(self) -> RoomFeed:
        return self.runtime.feed

    @property
    def bus(self) -> Bus:
        return self.runtime.bus

    async def start(self) -> None:
        """Prime the feed from DynamoDB, start the subscriber and the periodic catch-up; wait for the subscription."""
        await self.runtime.start()
        assert await wait_for(self.bus.connected.is_set, timeout=10), f"{self.name} did not subscribe to Redis"

    async def stop(self) -> None:
        await self.runtime.stop()  # the subscriber, the Redis connections, the DynamoDB client


class Cluster:
    """The nodes of one test: all on the same tables and room, each with connections of its own."""

    def __init__(self, *, endpoint: str, tables: TableNames, room: str) -> None:
        self.endpoint = endpoint
        self.tables = tables
        self.room = room
        self.nodes: list[Node] = []

    async def node(
        self,
        *,
        redis_url: str,
        redis_cluster: bool = False,
        catch_up_interval: float = 3600.0,
        session_ttl_seconds: int = 86_400,
        clock: Callable[[], float] | None = None,
        start: bool = True,
        rate: tuple[float, int] = (FAST.rate_per_second, FAST.rate_burst),
    ) -> Node:
        """A new node; started (see Node.start) unless ``start`` is False.

        The periodic catch-up runs hourly unless told otherwise, so that it cannot hide what a test looks at.
        With ``clock``, the node's ChatService reads that clock instead of the real one (sessions it hands out
        expire by it); its stores, feed and bus are still the runtime's. ``rate`` is a session's messages per
        second and burst. ``redis_cluster`` says that ``redis_url`` names a node of a Redis Cluster.
        """
        settings = Settings(
            dynamodb_endpoint=self.endpoint,
            aws_region=REGION,
            table_prefix=self.tables.users.removesuffix("Users"),
            redis_url=redis_url,
            redis_cluster=redis_cluster,
            storage_secret="integration-tests-only",  # signs no real cookie here
            room=self.room,
            session_ttl_seconds=session_ttl_seconds,
            rate_per_second=rate[0],
            rate_burst=rate[1],
            catchup_interval_seconds=catch_up_interval,
        )
        runtime = Runtime(settings)
        assert runtime.tables == self.tables
        service = runtime.service
        if clock is not None:
            service = ChatService(
                users=UserStore(db=runtime.dynamo, tables=runtime.tables),
                messages=MessageStore(db=runtime.dynamo, tables=runtime.tables),
                feed=runtime.feed,
                limits=runtime.service.limits,
                clock=clock,
            )
        node = Node(name=f"node{len(self.nodes) + 1}", runtime=runtime, service=service)
        self.nodes.append(node)
        if start:
            await node.start()
        return node

    async def stop(self) -> None:
        for node in self.nodes:
            await node.stop()
        self.nodes.clear()


async def stored(service: ChatService, *, page_size: int = 100) -> list[Message]:
    """Every message of the room in DynamoDB, oldest first, read page by page as the UI's "Load more" does."""
    pages: list[list[Message]] = []
    before: str | None = None
    while True:
        page = await service.history(before=before, limit=page_size)
        pages.append(page.messages)
        if page.cursor is None:
            break
        before = page.cursor
    return [m for page in reversed(pages) for m in page]
