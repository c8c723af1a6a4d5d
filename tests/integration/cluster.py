"""App "processes" on the real services, and the tables and rooms they share in one test.

A ``Node`` is what one app process holds, built by the app's own chat.runtime.Runtime from Settings: its own
DynamoDB client (and thread pool), its own Redis client, Bus, Hub and ChatService, and recording tabs in place of
the broadcaster. Several nodes in one test stand for several processes behind the load balancer.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from botocore.exceptions import BotoCoreError, ClientError

from chat.bus import Bus
from chat.hub import Hub
from chat.models import Message, Session
from chat.presence_feed import PresenceTiming
from chat.rooms import Room
from chat.runtime import Runtime
from chat.service import ChatService, Limits
from chat.settings import Settings
from chat.storage import Dynamo, TableNames, ensure_tables
from tests.helpers import wait_for

from .servers import REGION
from .tabs import Tabs
from .tally import View

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
    pool), its own Redis client, Bus, Hub and ChatService; ``tabs`` stands where main.py puts the broadcaster.

    ``caught_up`` counts, per room, the hub's finished catch-ups (after each confirmed (re)subscription, on the
    timer, or when a test asks): the hub's own ``catch_up``, counted on its way out.
    """

    name: str
    runtime: Runtime
    service: ChatService
    tabs: Tabs
    caught_up: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        catch_up = self.hub.catch_up

        async def counted(room: str) -> None:
            await catch_up(room)
            self.caught_up[room] += 1

        self.hub.catch_up = counted  # type: ignore[method-assign]

    @property
    def hub(self) -> Hub:
        return self.runtime.hub

    @property
    def bus(self) -> Bus:
        return self.runtime.bus

    async def start(self) -> None:
        """Start the subscriber, the periodic catch-up and the read markers; wait for the activity channel."""
        await self.runtime.start()
        assert await wait_for(self.bus.connected.is_set, timeout=10), f"{self.name} did not subscribe to Redis"

    async def show(self, room: str, name: str | None = None) -> View:
        """A new tab of ``room``; the room's first tab waits until the room is subscribed and primed (its first
        catch-up, which the subscription's confirmation starts, has finished)."""
        first = room not in self.hub.open_rooms
        before = self.caught_up[room]
        view = self.tabs.open(room, name)
        if first:
            primed = await wait_for(lambda: self.caught_up[room] > before, timeout=15)
            assert primed, f"{self.name} did not subscribe to room {room}"
        return view

    async def stop(self) -> None:
        await self.runtime.stop()  # the subscriber, the Redis connections, the DynamoDB client


class Cluster:
    """The nodes of one test: all on the same tables, each with connections of its own. ``room`` is their lobby."""

    def __init__(self, *, endpoint: str, tables: TableNames, room: str) -> None:
        self.endpoint = endpoint
        self.tables = tables
        self.room = room
        self.nodes: list[Node] = []

    @property
    def namespace(self) -> str:
        """The table prefix, which also keeps the nodes' Redis channels apart from other tests'."""
        return self.tables.users.removesuffix("Users")

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
        linger: float | None = None,
        presence_timing: PresenceTiming | None = None,
    ) -> Node:
        """A new node; started (see Node.start) unless ``start`` is False.

        The periodic catch-up runs hourly unless told otherwise, so that it cannot hide what a test looks at.
        With ``clock``, the node's ChatService reads that clock instead of the real one (sessions it hands out
        expire by it). With ``linger``, its hub lets go of a room that many seconds after the room's last tab
        closes (not ROOM_LINGER_SECONDS). Either way the service is assembled as the runtime assembles it, on the
        runtime's clients. ``rate`` is a session's messages per second and burst. ``redis_cluster`` says that
        ``redis_url`` names a node of a Redis Cluster.
        """
        settings = Settings(
            dynamodb_endpoint=self.endpoint,
            aws_region=REGION,
            table_prefix=self.namespace,
            redis_url=redis_url,
            redis_cluster=redis_cluster,
            storage_secret="integration-tests-only",  # signs no real cookie here
            room=self.room,
            session_ttl_seconds=session_ttl_seconds,
            rate_per_second=rate[0],
            rate_burst=rate[1],
            catchup_interval_seconds=catch_up_interval,
        )
        hub_options: dict[str, object] = {} if linger is None else {"linger": linger}
        if presence_timing is not None:  # heartbeat and expiry of the Online list, shortened
            hub_options["presence_timing"] = presence_timing
        runtime = Runtime(settings, clock=clock or time.time, **hub_options)
        assert runtime.tables == self.tables
        name = f"node{len(self.nodes) + 1}"
        node = Node(name=name, runtime=runtime, service=runtime.service, tabs=Tabs(runtime.hub, process=name))
        self.nodes.append(node)
        if start:
            await node.start()
        return node

    async def stop(self) -> None:
        for node in self.nodes:
            await node.stop()
        self.nodes.clear()


async def make_rooms(node: Node, session: Session, names: list[str]) -> list[Room]:
    """Create the rooms called ``names`` through the service, as the New room button does."""
    made = [await node.service.create_room(session, name) for name in names]
    assert all(created for _, created in made)
    return [room for room, _ in made]


async def stored(service: ChatService, room: str | None = None, *, page_size: int = 100) -> list[Message]:
    """Every message of ``room`` (the lobby when None) in DynamoDB, oldest first, read page by page as the UI's
    "Load more" does."""
    room = service.lobby.id if room is None else room
    pages: list[list[Message]] = []
    before: str | None = None
    while True:
        page = await service.history(room, before=before, limit=page_size)
        pages.append(page.messages)
        if page.cursor is None:
            break
        before = page.cursor
    return [m for page in reversed(pages) for m in page]
