"""Shared fixtures: in-memory backends for the fast tiers, real services for the integration tier."""

from __future__ import annotations

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
from chat.feed import RECENT_MESSAGES, RoomFeed
from chat.ratelimit import Limiter
from chat.service import ChatService, Limits
from chat.settings import Settings
from chat.storage import Dynamo, MessageStore, TableNames, UserStore, connect, ensure_tables
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
    clock: Callable[[], float] = time.time,
    recent_size: int = RECENT_MESSAGES,
    **settings: int | float,
) -> ChatService:
    """A service in the lobby whose limits come from ``Settings(**settings)``; its feed keeps ``recent_size``
    messages in memory."""
    messages = MessageStore(db=db, tables=tables)
    feed = RoomFeed(room="lobby", store=messages, bus=bus, recent_size=recent_size)
    return ChatService(
        users=UserStore(db=db, tables=tables),
        messages=messages,
        feed=feed,
        limits=Limits.from_settings(Settings(**settings)),  # type: ignore[arg-type]
        limiter=limiter,
        clock=clock,
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


@pytest.fixture
async def memory_service(memory_db: Dynamo, tables: TableNames, redis_server: FakeServer) -> AsyncIterator[ChatService]:
    """A started ChatService on moto and fakeredis."""
    service = make_service(memory_db, tables, Bus(redis=FakeAsyncRedis(server=redis_server), room="lobby", key=BUS_KEY))
    await service.feed.start(catch_up_interval=3600)
    yield service
    await service.feed.stop()
