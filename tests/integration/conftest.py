"""Fixtures of the integration tier: real DynamoDB Local and real Redis, never moto or fakeredis.

Without CHAT_TEST_DYNAMODB_ENDPOINT / CHAT_TEST_REDIS_URL the tests skip; with CHAT_REQUIRE_SERVICES=1 they fail.
The cluster tests also need CHAT_TEST_REDIS_CLUSTER_URL, a node of ``REDIS_CLUSTER=1 scripts/services.sh start``.
The DynamoDB Local on port 8000 and the Redis of ``scripts/services.sh`` are shared with other runs, so every test
gets tables of its own and a room of its own (the Redis channel is named after the room). The fault tests never
touch those shared servers: they start private ones that they may kill.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from chat.storage import Dynamo, TableNames, connect
from tests.conftest import service_setting

from .cluster import Cluster, create_tables, drop_tables, unique_room
from .servers import REGION, RedisServer, RedisShards


@pytest.fixture
def dynamodb_endpoint() -> str:
    return service_setting("CHAT_TEST_DYNAMODB_ENDPOINT")


@pytest.fixture
def redis_url() -> str:
    return service_setting("CHAT_TEST_REDIS_URL")


@pytest.fixture
def redis_cluster_url() -> str:
    return service_setting("CHAT_TEST_REDIS_CLUSTER_URL")


@pytest.fixture
def dynamo(dynamodb_endpoint: str) -> Iterator[Dynamo]:
    """A client of the shared DynamoDB Local for setting up and inspecting; the nodes have clients of their own."""
    db = connect(endpoint=dynamodb_endpoint, region=REGION)
    yield db
    db.close()


@pytest.fixture
def real_tables(dynamo: Dynamo) -> Iterator[TableNames]:
    """Tables with a prefix of this test's own on the shared DynamoDB Local, dropped afterwards."""
    tables = create_tables(dynamo)
    yield tables
    drop_tables(dynamo, tables)


@pytest.fixture
def room() -> str:
    return unique_room()


@pytest.fixture
async def cluster(dynamodb_endpoint: str, real_tables: TableNames, room: str) -> AsyncIterator[Cluster]:
    """App processes on the shared DynamoDB Local; every node started here is stopped afterwards."""
    nodes = Cluster(endpoint=dynamodb_endpoint, tables=real_tables, room=room)
    yield nodes
    await nodes.stop()


@pytest.fixture
def private_redis(redis_url: str, tmp_path: Path) -> Iterator[RedisServer]:
    """A running redis-server of this test's own; the test may kill and restart it.

    It never touches ``redis_url``: asking for it only makes these tests skip (or fail) with the rest of the tier.
    """
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def private_shards(redis_cluster_url: str, tmp_path: Path) -> Iterator[RedisShards]:
    """A running 3-primary Redis Cluster of this test's own, whose shards the test may kill and restart.

    It never touches ``redis_cluster_url``: asking for it only makes these tests skip (or fail) with the rest.
    """
    shards = RedisShards(tmp_path)
    try:
        shards.start()
        yield shards
    finally:
        shards.stop()
