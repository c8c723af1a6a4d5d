"""The rate limit on real Redis: one limit per session, whichever process a post reaches."""

from __future__ import annotations

import asyncio
import time

import pytest

from chat.errors import RateLimited

from .cluster import Cluster

pytestmark = pytest.mark.integration

RATE, BURST = 5.0, 10


async def test_two_processes_share_one_limit_per_session(cluster: Cluster, redis_url: str) -> None:
    a = await cluster.node(redis_url=redis_url, rate=(RATE, BURST))
    b = await cluster.node(redis_url=redis_url, rate=(RATE, BURST))
    session = await a.service.register("Quick")
    accepted = 0
    started = time.monotonic()
    for i in range(30):  # alternately to each process, as fast as they answer
        try:
            await (a, b)[i % 2].service.send(session, f"quick {i}")
            accepted += 1
        except RateLimited:
            pass
    elapsed = time.monotonic() - started
    # the burst, plus what the rate refilled meanwhile; counted per process it would have been twice the burst
    assert BURST <= accepted <= BURST + int(RATE * elapsed) + 1, (accepted, elapsed)
    assert accepted < 2 * BURST


async def test_each_session_has_a_limit_of_its_own(cluster: Cluster, redis_url: str) -> None:
    a = await cluster.node(redis_url=redis_url, rate=(RATE, BURST))
    first, second = await a.service.register("First"), await a.service.register("Second")
    results = await asyncio.gather(
        *(a.service.send(s, "hi") for s in (first, second) for _ in range(BURST)), return_exceptions=True
    )
    assert not [r for r in results if isinstance(r, BaseException)]
