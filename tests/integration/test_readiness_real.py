"""Readiness against real services: a private redis-server is killed, frozen and restarted under a running node."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from fastapi import FastAPI

from chat.health import Health
from chat.metrics import Metrics
from chat.monitoring import build_monitoring_router
from chat.storage import connect
from tests.helpers import free_port

from .cluster import Cluster
from .servers import REGION, RedisServer

pytestmark = pytest.mark.integration


def client_of(health: Health) -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(build_monitoring_router(health=health, metrics=Metrics(), metrics_public=False))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://chat.test")


async def ready_within(
    client: httpx.AsyncClient, *, status: int, seconds: float, reason: str = ""
) -> dict[str, object]:
    """Ask /api/ready until it answers ``status`` (with a reason starting with ``reason``, if given) and return the
    body; fail after ``seconds``."""
    started = time.monotonic()
    while True:
        asked = time.monotonic()
        response = await client.get("/api/ready")
        assert time.monotonic() - asked < 2.5, "a probe must never hang on a backend"
        body = dict(response.json())
        if response.status_code == status and (not reason or any(r.startswith(reason) for r in body["reasons"])):
            return body
        assert time.monotonic() - started < seconds, f"still {response.status_code}: {response.json()}"
        await asyncio.sleep(0.1)


async def test_ready_says_503_with_a_redis_reason_while_redis_is_down_and_200_after_it_restarts(
    cluster: Cluster, private_redis: RedisServer
) -> None:
    node = await cluster.node(redis_url=private_redis.url)
    async with client_of(node.runtime.health) as client:
        body = await ready_within(client, status=200, seconds=5)
        assert body == {"status": "ready"}

        private_redis.kill()
        # the subscriber may notice first; within the one-second cache the probe of Redis does too
        body = await ready_within(client, status=503, seconds=5, reason="redis: ")
        reasons = body["reasons"]
        assert isinstance(reasons, list)
        assert "subscriber: not subscribed" in reasons
        assert not any(reason.startswith("dynamodb") for reason in reasons), reasons

        private_redis.start()
        body = await ready_within(client, status=200, seconds=15)  # the subscriber's backoff is at most 5 s
        assert body == {"status": "ready"}


async def test_a_frozen_redis_makes_ready_answer_503_within_about_a_second(
    cluster: Cluster, private_redis: RedisServer
) -> None:
    node = await cluster.node(redis_url=private_redis.url)
    async with client_of(node.runtime.health) as client:
        await ready_within(client, status=200, seconds=5)
        private_redis.pause()
        try:
            # the cache, then one probe's timeout: about two seconds at most
            await ready_within(client, status=503, seconds=3, reason="redis: no answer within 1 s")
        finally:
            private_redis.resume()
        await ready_within(client, status=200, seconds=15)


async def test_an_unreachable_dynamodb_is_a_reason_of_its_own(cluster: Cluster, private_redis: RedisServer) -> None:
    node = await cluster.node(redis_url=private_redis.url)
    nowhere = connect(endpoint=f"http://127.0.0.1:{free_port()}", region=REGION, workers=1, timeout=1, attempts=1)
    health = Health(dynamo=nowhere, table=cluster.tables.messages, bus=node.bus)
    try:
        readiness = await health.ready()
    finally:
        nowhere.close()
    assert readiness.reasons == ("dynamodb: EndpointConnectionError",)
