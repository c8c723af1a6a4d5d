"""Readiness on moto and fakeredis: the reasons, the one-second cache, bounded probes, and draining on a signal."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fakeredis import FakeAsyncRedis, FakeServer
from fastapi import FastAPI

from chat.bus import Bus
from chat.health import Health
from chat.metrics import Metrics
from chat.monitoring import build_monitoring_router
from chat.storage import Dynamo, TableNames
from tests.conftest import BUS_KEY, redis_goes_down


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def nothing(_room: str | None) -> None:
    return None


@pytest.fixture
async def bus(redis_server: FakeServer) -> AsyncIterator[Bus]:
    """A subscribed bus on fakeredis."""
    bus = Bus(redis=FakeAsyncRedis(server=redis_server), key=BUS_KEY)
    bus.start(on_event=lambda _room, _event: None, on_subscribed=nothing)
    await asyncio.wait_for(bus.connected.wait(), 3)
    yield bus
    redis_server.connected = True
    await bus.stop()


def health_of(db: Any, tables: TableNames, redis_server: FakeServer, bus: Bus, **kwargs: Any) -> Health:
    return Health(dynamo=db, table=tables.messages, bus=bus, **kwargs)


def answer(health: Health) -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(build_monitoring_router(health=health, metrics=Metrics(), metrics_public=False))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://chat.test")


async def test_ready_is_200_when_dynamodb_redis_and_the_subscriber_are_fine(
    memory_db: Dynamo, tables: TableNames, redis_server: FakeServer, bus: Bus
) -> None:
    async with answer(health_of(memory_db, tables, redis_server, bus)) as client:
        response = await client.get("/api/ready")
    assert (response.status_code, response.json()) == (200, {"status": "ready"})


async def test_ready_is_503_with_a_reason_for_each_part_that_fails(
    memory_db: Dynamo, redis_server: FakeServer, bus: Bus
) -> None:
    # no table of that name: DescribeTable fails as it does when DynamoDB refuses the process
    health = health_of(memory_db, TableNames.with_prefix("missing_"), redis_server, bus)
    await redis_goes_down(redis_server, bus)  # every command and the subscription fail
    health.drain()
    async with answer(health) as client:
        response = await client.get("/api/ready")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unready",
        "reasons": [
            "process: shutting down",
            "subscriber: not subscribed",
            "redis: ConnectionError",
            "dynamodb: ResourceNotFoundException",
        ],
    }


async def test_ready_turns_back_to_200_when_redis_answers_again(
    memory_db: Dynamo, tables: TableNames, redis_server: FakeServer, bus: Bus
) -> None:
    clock = Clock()
    health = health_of(memory_db, tables, redis_server, bus, clock=clock)
    redis_server.connected = False
    assert "redis: ConnectionError" in (await health.ready()).reasons
    redis_server.connected = True
    await asyncio.wait_for(bus.connected.wait(), 10)  # the subscriber reconnects with backoff
    clock.now += 1.01
    assert (await health.ready()).ready


async def test_a_flood_of_probes_asks_the_backends_once_a_second(
    memory_db: Dynamo, tables: TableNames, redis_server: FakeServer, bus: Bus
) -> None:
    clock = Clock()
    pings = 0
    ping = bus.ping

    async def counted_ping() -> None:
        nonlocal pings
        pings += 1
        await ping()

    bus.ping = counted_ping  # type: ignore[method-assign]
    health = Health(dynamo=memory_db, table=tables.messages, bus=bus, clock=clock)
    answers = await asyncio.gather(*(health.ready() for _ in range(200)))
    assert all(a.ready for a in answers)
    assert pings == 1
    clock.now += 0.5
    await health.ready()
    assert pings == 1
    clock.now += 0.6
    await health.ready()
    assert pings == 2


class HangingDynamo:
    """A DynamoDB whose calls never answer (a frozen server), counting how many calls were started."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = asyncio.Event()
        self.client = self

    def describe_table(self, **_: Any) -> None:
        raise AssertionError("only passed to run")

    async def run(self, func: Any, /, **kwargs: Any) -> None:
        self.calls += 1
        await self.release.wait()


async def test_a_frozen_dynamodb_makes_ready_answer_503_within_the_timeout_without_piling_up_calls(
    tables: TableNames, redis_server: FakeServer, bus: Bus
) -> None:
    clock = Clock()
    dynamo = HangingDynamo()
    health = health_of(dynamo, tables, redis_server, bus, timeout=0.2, clock=clock)
    for _ in range(3):
        started = time.monotonic()
        readiness = await health.ready()
        assert time.monotonic() - started < 1.0
        assert readiness.reasons == ("dynamodb: no answer within 0.2 s",)
        clock.now += 2  # past the cache: every round probes again
    assert dynamo.calls == 1  # the hanging call is awaited again, never started a second time
    dynamo.release.set()  # DynamoDB answers again: the next probe after the cache says so
    assert (await health.ready()).ready


async def test_a_stop_signal_turns_readiness_to_503_before_the_servers_own_handler_runs(
    memory_db: Dynamo, tables: TableNames, redis_server: FakeServer, bus: Bus
) -> None:
    health = health_of(memory_db, tables, redis_server, bus)
    seen: list[bool] = []
    original = signal.signal(signal.SIGTERM, lambda *_: seen.append(health.draining))  # stands for uvicorn's
    try:
        health.drain_on_signals()
        os.kill(os.getpid(), signal.SIGTERM)
        await _wait_until(lambda: bool(seen))
    finally:
        signal.signal(signal.SIGTERM, original)
    assert seen == [True]
    assert (await health.ready()).reasons == ("process: shutting down",)


async def _wait_until(predicate: Any, timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)
