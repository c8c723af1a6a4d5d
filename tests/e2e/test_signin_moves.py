"""A browser signed in on one process, moved by nginx to the other, across a restart of a Redis that keeps nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, expect

from chat.cookies import COOKIE_NAME
from tests.helpers import wait_until
from tests.integration.servers import RedisServer

from .chat_page import expect_chat, join, message, name_input, send
from .conftest import Deployment
from .test_cluster import ROUTE_COOKIE, Cluster

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def private_redis(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server of this module's own, without persistence (as scripts/services.sh runs it), to restart."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cluster(deployment: Deployment, private_redis: RedisServer) -> Cluster:
    a, b = deployment.start("app_a", "app_b", redis_url=private_redis.url)
    return Cluster(a=a, b=b, nginx=deployment.start_nginx([a, b]))


def route_browser_to(page: Page, cluster: Cluster, route: str) -> None:
    page.context.add_cookies([{"name": ROUTE_COOKIE, "value": route, "url": cluster.nginx.base_url}])


def signin_cookie(page: Page) -> str | None:
    return next((c["value"] for c in page.context.cookies() if c["name"] == COOKIE_NAME), None)


def test_a_browser_moved_to_another_process_across_a_redis_restart_stays_signed_in(
    cluster: Cluster, private_redis: RedisServer, new_person: Callable[[str], Page]
) -> None:
    to_a, to_b = cluster.route_to(cluster.a), cluster.route_to(cluster.b)
    page = new_person(cluster.nginx.base_url)
    route_browser_to(page, cluster, to_a)
    join(page, "Wanderer")
    wait_until(lambda: signin_cookie(page) is not None, timeout=10, what="the sign-in cookie")
    cookie = next(c for c in page.context.cookies() if c["name"] == COOKIE_NAME)
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Lax"
    send(page, "Before the move.")
    expect(message(page, "Before the move.")).to_have_count(1)

    private_redis.kill()  # everything Redis held is gone: it saves nothing
    private_redis.start()
    route_browser_to(page, cluster, to_b)  # as a load balancer does after a failover or a scale-down
    page.reload()

    expect_chat(page, "Wanderer")  # signed in on B, under its own name, never asked to join again
    expect(name_input(page)).to_have_count(0)
    expect(page.get_by_text("is in use")).to_have_count(0)
    expect(page.get_by_text("too similar")).to_have_count(0)
    expect(message(page, "Before the move.")).to_have_count(1)
    send(page, "After the move.")
    expect(message(page, "After the move.")).to_have_count(1)
    # the page after the move, and everything since, came from B
    assert cluster.served_by(to_b) == {cluster.upstream(cluster.b)}
    assert any(e["request"].startswith("GET / ") for e in cluster.requests_of(to_b))
