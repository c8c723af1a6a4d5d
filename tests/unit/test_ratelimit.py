"""Rate limits: the GCRA arithmetic, the Redis script on fakeredis (with Lua), the fallback, and per-address limits."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import pytest
from fakeredis import FakeAsyncRedis, FakeServer

from chat.bus import Bus
from chat.errors import RateLimited
from chat.ratelimit import LocalLimiter, Rate, SharedLimiter
from chat.service import ChatService
from chat.storage import Dynamo, TableNames
from tests.conftest import BUS_KEY, make_service

FIVE = Rate(per_second=5, burst=10)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_burst_then_the_steady_rate() -> None:
    clock = Clock()
    limiter = LocalLimiter(clock=clock)
    for _ in range(10):
        await limiter.take([("s", FIVE)])
    with pytest.raises(RateLimited) as info:
        await limiter.take([("s", FIVE)])
    assert info.value.retry_after == pytest.approx(0.2)
    clock.now += 0.2
    await limiter.take([("s", FIVE)])
    with pytest.raises(RateLimited):
        await limiter.take([("s", FIVE)])


async def test_a_refusal_by_one_bucket_spends_from_none() -> None:
    limiter = LocalLimiter(clock=Clock())
    tight = Rate(per_second=1, burst=1)
    await limiter.take([("address", tight)])
    for _ in range(3):
        with pytest.raises(RateLimited):
            await limiter.take([("session", FIVE), ("address", tight)])
    for _ in range(10):  # the session's bucket is still full
        await limiter.take([("session", FIVE)])


async def test_in_redis_a_refusal_by_one_bucket_gives_back_what_the_others_spent() -> None:
    # each bucket is its own script (on a cluster their keys live on different shards): the spent one is refunded
    limiter = SharedLimiter(redis=FakeAsyncRedis(server=FakeServer()))
    slow = Rate(per_second=0.001, burst=1)
    await limiter.take([("address", slow)])
    for _ in range(3):
        with pytest.raises(RateLimited):
            await limiter.take([("session", slow), ("address", slow)])
    await limiter.take([("session", slow)])  # the session's one action is still there
    with pytest.raises(RateLimited):
        await limiter.take([("session", slow)])


async def test_processes_sharing_redis_share_one_limit() -> None:
    server = FakeServer()
    limiters = [SharedLimiter(redis=FakeAsyncRedis(server=server)) for _ in range(2)]
    accepted = 0
    for i in range(30):
        try:
            await limiters[i % 2].take([("s", Rate(per_second=0.001, burst=10))])
            accepted += 1
        except RateLimited:
            pass
    assert accepted == 10


async def test_without_redis_a_process_counts_alone_and_says_so_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="chat")
    server = FakeServer()
    clock = Clock()
    limiter = SharedLimiter(redis=FakeAsyncRedis(server=server), clock=clock)
    tight = Rate(per_second=0.001, burst=3)
    await limiter.take([("s", tight)])  # Redis has counted one
    server.connected = False
    for _ in range(3):  # this process alone knows nothing of it: three more, then refused
        await limiter.take([("s", tight)])
        clock.now += 2  # past the pause between two attempts to reach Redis
    with pytest.raises(RateLimited):
        await limiter.take([("s", tight)])
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "counted by this process" in r.message]
    assert len(warnings) == 1
    server.connected = True
    clock.now += 2
    await limiter.take([("s", tight)])  # Redis again: its own count (one of three) decides
    await limiter.take([("s", tight)])
    with pytest.raises(RateLimited):
        await limiter.take([("s", tight)])
    assert sum("shared by every process again" in r.message for r in caplog.records) == 1


async def limited_service(db: Dynamo, tables: TableNames, server: FakeServer) -> ChatService:
    redis = FakeAsyncRedis(server=server)
    return make_service(
        db,
        tables,
        Bus(redis=redis, key=BUS_KEY),
        rate_per_second=5,
        rate_burst=10,
        address_rate_per_second=10,
        address_rate_burst=30,
        joins_per_minute=5,
        join_burst=5,
        limiter=SharedLimiter(redis=redis),
    )


async def test_twenty_joins_from_one_address_are_refused_past_the_limit(
    memory_db: Dynamo, tables: TableNames, redis_server: FakeServer
) -> None:
    service = await limited_service(memory_db, tables, redis_server)
    outcomes = []
    for i in range(20):
        try:
            await service.register(f"Visitor {i}", address="203.0.113.7")
            outcomes.append("joined")
        except RateLimited as exc:
            outcomes.append(exc.message.split(".")[0])
    assert outcomes == ["joined"] * 5 + ["Too many people joined from your address"] * 15
    await service.register("Neighbour", address="203.0.113.8")  # another address is not held back


async def test_190_posts_from_one_address_across_many_sessions_are_limited(
    memory_db: Dynamo, tables: TableNames, redis_server: FakeServer
) -> None:
    service = await limited_service(memory_db, tables, redis_server)
    sessions = [await service.register(f"Sender {i}") for i in range(19)]
    accepted = 0
    for _ in range(10):
        for session in sessions:  # ten each: every session stays within its own burst
            try:
                await service.send(session, "hello", address="203.0.113.7")
                accepted += 1
            except RateLimited:
                pass
    assert 30 <= accepted <= 40  # the address's burst, and what 10/s adds while this runs


async def test_a_frozen_redis_is_named_in_the_warning(caplog: pytest.LogCaptureFixture) -> None:
    class Frozen:
        """A Redis that never answers: every script call waits forever."""

        def register_script(self, _script: str) -> Callable[..., Awaitable[object]]:
            async def never(**_: object) -> object:
                await asyncio.sleep(3600)
                return 0

            return never

    caplog.set_level(logging.WARNING, logger="chat")
    limiter = SharedLimiter(redis=Frozen(), clock=Clock(), timeout=0.05)  # type: ignore[arg-type]
    await limiter.take([("s", Rate(per_second=1, burst=3))])
    (warning,) = [r.getMessage() for r in caplog.records if "counted by this process" in r.getMessage()]
    assert warning.endswith("TimeoutError, no answer within 0.05 s")
