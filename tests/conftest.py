"""Shared fixtures: in-memory backends for the fast tiers, real services for the integration tier."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import NoReturn

import pytest
from fakeredis import FakeAsyncRedis, FakeServer
from fastapi import FastAPI
from moto import mock_aws

from chat.bus import Bus, derive_key
from chat.cookies import SessionCookies
from chat.metrics import Metrics
from chat.ratelimit import Limiter
from chat.room_memory import RECENT_MESSAGES
from chat.runtime import assemble
from chat.service import ChatService
from chat.settings import Settings
from chat.storage import Dynamo, TableNames, connect, ensure_tables
from chat.webapp import install_api

# what every process of a test deployment seals its bus events with
BUS_KEY = derive_key("test deployment secret, not for production use")

REQUIRE_SERVICES = os.environ.get("CHAT_REQUIRE_SERVICES", "") not in ("", "0", "false")


def service_setting(name: str) -> str:
    """A real service's address from the environment; skip (or, with CHAT_REQUIRE_SERVICES=1, fail) without it."""
    value = os.environ.get(name, "").strip()
    if not value:
        unavailable(f"{name} is not set (start the services with scripts/services.sh start)")
    return value


def unavailable(message: str) -> NoReturn:
    """Skip the test for a missing service, program or package, or fail it with CHAT_REQUIRE_SERVICES=1."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service missing: {message}", pytrace=False)
    pytest.skip(message)


def plant(db: Dynamo, tables: TableNames, *, key: str, text: str, room: str = "lobby") -> None:
    """Write a message item straight into DynamoDB, as an old version, a script or an attacker with table access
    might have: nothing checks ``key``."""
    db.client.put_item(
        TableName=tables.messages,
        Item={
            "PartitionKey": {"S": room},
            "CreatedAt": {"S": key},
            "UserName": {"S": "Planted"},
            "DisplayName": {"S": "Planted"},
            "AuthorId": {"S": "planted"},
            "Text": {"S": text},
        },
    )


@pytest.fixture
def tables() -> TableNames:
    return TableNames.with_prefix(f"t{uuid.uuid4().hex[:8]}_")


@pytest.fixture
def moto_dynamo() -> Iterator[Dynamo]:
    """A DynamoDB client served by moto in this process."""
    with mock_aws():
        # one storage thread, as in embedded mode: moto's transactions are not thread-safe
        db = connect(endpoint=None, region="us-east-1", credentials=("test", "test"), workers=1)
        yield db
        db.close()


@pytest.fixture
async def memory_db(moto_dynamo: Dynamo, tables: TableNames) -> Dynamo:
    ensure_tables(moto_dynamo, tables)
    return moto_dynamo


@pytest.fixture
def redis_server() -> FakeServer:
    return FakeServer()


def make_service(
    db: Dynamo,
    tables: TableNames,
    bus: Bus,
    *,
    limiter: Limiter | None = None,
    metrics: Metrics | None = None,
    clock: Callable[[], float] = time.time,
    recent_size: int = RECENT_MESSAGES,
    linger: float = 0,
    **settings: int | float,
) -> ChatService:
    """A service whose limits come from ``Settings(**settings)``, assembled as the runtime assembles it; its hub
    keeps ``recent_size`` messages of a room in memory and lets go of a room ``linger`` seconds after its last view.
    Its stores and hub count into ``metrics``."""
    return assemble(
        db=db,
        tables=tables,
        bus=bus,
        settings=Settings(**settings),  # type: ignore[arg-type]
        limiter=limiter,
        metrics=metrics,
        clock=clock,
        recent_size=recent_size,
        linger=linger,
    )


def api_app(service: ChatService, settings: Settings | None = None) -> FastAPI:
    """A bare FastAPI app serving the API as the product does (the same ``install_api``), without NiceGUI."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    install_api(
        app,
        service=service,
        settings=settings or Settings(),
        cookies=SessionCookies(secret="test secret, not for production", max_age=3600),
    )
    return app


async def redis_goes_down(redis_server: FakeServer, bus: Bus, *, timeout: float = 3.0) -> None:
    """Make fakeredis refuse every command, and wait until ``bus``'s subscriber has noticed.

    A real server that dies also closes the subscriber's socket, which wakes its read at once; fakeredis cannot cut
    a read under way, and the subscriber would notice only at its next PING. Watching a room makes it write at once.
    """
    redis_server.connected = False
    bus.watch("a room watched after redis went down")
    async with asyncio.timeout(timeout):
        while bus.connected.is_set():
            await asyncio.sleep(0.01)


@pytest.fixture
async def memory_service(memory_db: Dynamo, tables: TableNames, redis_server: FakeServer) -> AsyncIterator[ChatService]:
    """A started ChatService on moto and fakeredis, its subscriber subscribed."""
    bus = Bus(redis=FakeAsyncRedis(server=redis_server), key=BUS_KEY)
    service = make_service(memory_db, tables, bus)
    await service.hub.start(catch_up_interval=3600)
    # subscribed to the activity channel before the test begins: its confirmation must not land mid-test
    await asyncio.wait_for(bus.connected.wait(), 3)
    yield service
    await service.hub.stop()
