"""The counters after real actions on moto and fakeredis: each one moves when, and only when, its event happens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from fakeredis import FakeAsyncRedis, FakeServer

from chat.bus import Bus
from chat.errors import NameTaken, RateLimited
from chat.metrics import Metrics
from chat.models import Draft, new_nonce
from chat.service import ChatService
from chat.storage import Dynamo, MessageStore, TableNames
from tests.conftest import BUS_KEY, make_service, redis_goes_down
from tests.recording import RecordingSink, show


def value(metrics: Metrics, name: str, **labels: str) -> float:
    found = metrics.registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def bus(redis_server: FakeServer, metrics: Metrics) -> Bus:
    return Bus(redis=FakeAsyncRedis(server=redis_server), key=BUS_KEY, metrics=metrics)


@pytest.fixture
async def service(memory_db: Dynamo, tables: TableNames, bus: Bus, metrics: Metrics) -> AsyncIterator[ChatService]:
    """A started service whose store, hub and bus all count into ``metrics``."""
    service = make_service(memory_db, tables, bus, metrics=metrics, rate_per_second=0.001, rate_burst=2)
    await service.hub.start(catch_up_interval=3600)
    await asyncio.wait_for(bus.connected.wait(), 3)
    yield service
    await service.hub.stop()


async def test_a_post_counts_one_stored_one_announced_and_one_latency(service: ChatService, metrics: Metrics) -> None:
    alice = await service.register("Alice")
    await service.send(alice, "hello")
    assert value(metrics, "sinchchat_messages_stored_total") == 1
    await service.hub.flush(within=1.0)  # the post did not wait for its announcement
    assert value(metrics, "sinchchat_messages_announced_total") == 1
    assert value(metrics, "sinchchat_post_seconds_count") == 1
    assert value(metrics, "sinchchat_post_seconds_sum") > 0


async def test_a_post_stored_while_redis_is_down_is_stored_but_not_announced(
    service: ChatService, metrics: Metrics, redis_server: FakeServer
) -> None:
    alice = await service.register("Alice")
    redis_server.connected = False
    await service.send(alice, "stored, not announced")
    redis_server.connected = True
    assert value(metrics, "sinchchat_messages_stored_total") == 1
    assert value(metrics, "sinchchat_messages_announced_total") == 0


async def test_refusals_count_by_kind_and_rate_limits_apart(service: ChatService, metrics: Metrics) -> None:
    alice = await service.register("Alice")
    await service.send(alice, "first")
    await service.send(alice, "second")  # a burst of 2
    with pytest.raises(NameTaken) as taken:
        await service.register("alice")
    metrics.refused(taken.value)
    with pytest.raises(RateLimited) as limited:
        await service.send(alice, "third")
    metrics.refused(limited.value)
    assert value(metrics, "sinchchat_errors_total", kind="NameTaken") == 1
    assert value(metrics, "sinchchat_errors_total", kind="RateLimited") == 1
    assert value(metrics, "sinchchat_rate_limited_total") == 1
    assert value(metrics, "sinchchat_messages_stored_total") == 2


async def test_catch_up_counts_what_it_repairs_and_not_the_first_read_at_start(
    service: ChatService, metrics: Metrics, memory_db: Dynamo, tables: TableNames
) -> None:
    await show(service.hub, "lobby")  # a view shows the lobby: its first read is done
    alice = await service.register("Alice")
    await service.send(alice, "announced")
    # stored by another process whose announcement never came
    missed = Draft(room="lobby", author="Bob", author_id="b0b", text="never announced", nonce=new_nonce())
    await MessageStore(db=memory_db, tables=tables).put(missed)
    await service.hub.catch_up("lobby")
    assert value(metrics, "sinchchat_messages_caught_up_total") == 1
    # a process that opens the room now reads both as its first page: nothing was repaired
    fresh = Metrics()
    starting = make_service(
        memory_db, tables, Bus(redis=FakeAsyncRedis(server=FakeServer()), key=BUS_KEY), metrics=fresh
    )
    delivered = RecordingSink()
    starting.hub.attach(delivered)
    starting.hub.open_room("lobby")
    await starting.hub.catch_up("lobby")
    assert [m.text for m in delivered.of("lobby")] == ["announced", "never announced"]
    assert value(fresh, "sinchchat_messages_caught_up_total") == 0
    await service.hub.catch_up("lobby")
    assert value(metrics, "sinchchat_messages_caught_up_total") == 1


async def test_a_lost_subscription_counts_one_reconnect(
    service: ChatService, metrics: Metrics, redis_server: FakeServer, bus: Bus
) -> None:
    assert value(metrics, "sinchchat_subscriber_reconnects_total") == 0
    await redis_goes_down(redis_server, bus)
    redis_server.connected = True
    await asyncio.wait_for(bus.connected.wait(), 10)
    assert value(metrics, "sinchchat_subscriber_reconnects_total") == 1


def test_open_tabs_is_read_at_every_scrape() -> None:
    metrics = Metrics()
    tabs = [1, 2]
    metrics.count_tabs(lambda: len(tabs))
    assert value(metrics, "sinchchat_open_tabs") == 2
    tabs.append(3)
    assert value(metrics, "sinchchat_open_tabs") == 3
    assert b"sinchchat_open_tabs 3.0" in metrics.exposition()[0]


def test_two_metrics_objects_never_share_counts() -> None:
    a, b = Metrics(), Metrics()
    a.stored.inc()
    assert (value(a, "sinchchat_messages_stored_total"), value(b, "sinchchat_messages_stored_total")) == (1, 0)


async def test_first_pages_count_where_they_came_from(service: ChatService, metrics: Metrics) -> None:
    alice = await service.register("Alice")
    await service.send(alice, "hello")
    await service.history("lobby")  # nobody shows the lobby here: DynamoDB
    await show(service.hub, "lobby")
    await service.history("lobby")
    await service.history("lobby")
    assert value(metrics, "sinchchat_first_pages_total", source="dynamodb") == 1
    assert value(metrics, "sinchchat_first_pages_total", source="memory") == 2


def test_dynamodb_calls_are_counted_by_operation_and_table() -> None:
    from chat.runtime import Runtime
    from chat.settings import Settings

    runtime = Runtime(Settings(table_prefix="t_"))  # embedded: moto in this process
    try:
        runtime.prepare()
        runtime.dynamo.client.get_item(TableName="t_Users", Key={"UserName": {"S": "nobody"}})
        runtime.dynamo.client.get_item(TableName="t_Users", Key={"UserName": {"S": "nobody"}})
        assert value(runtime.metrics, "sinchchat_dynamodb_calls_total", operation="GetItem", table="Users") == 2
    finally:
        if runtime.embedded is not None:
            runtime.embedded.stop()
        runtime.dynamo.close()
