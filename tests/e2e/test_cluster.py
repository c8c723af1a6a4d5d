"""Two app processes A and B sharing DynamoDB and Redis, reached directly and through the repo's nginx config."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.helpers import wait_until

from .chat_page import Api, Latency, join, message, wait_connected
from .conftest import Deployment
from .processes import AppProcess, NginxProcess

pytestmark = pytest.mark.e2e

ROUTE_COOKIE = "sc_route"


@dataclass
class Cluster:
    a: AppProcess
    b: AppProcess
    nginx: NginxProcess

    def upstream(self, app: AppProcess) -> str:
        return f"127.0.0.1:{app.port}"

    def requests_of(self, route: str) -> list[dict[str, str]]:
        return [entry for entry in self.nginx.access_log() if entry.get("route") == route]

    def served_by(self, route: str) -> set[str]:
        """The upstream addresses that served the requests carrying this route key."""
        return {entry["upstream"] for entry in self.requests_of(route)}

    def route_to(self, app: AppProcess) -> str:
        """A route cookie value that nginx sends to ``app``, found by asking (the hash is nginx's business)."""
        with httpx.Client(base_url=self.nginx.base_url, timeout=5) as client:
            for i in range(64):
                route = f"probe-{app.name}-{i}"
                response = client.get("/api/health", headers={"Cookie": f"{ROUTE_COOKIE}={route}"})
                assert response.status_code == 200
                logged = functools.partial(self.requests_of, route)
                wait_until(logged, timeout=5, what="the access log line")
                if self.served_by(route) == {self.upstream(app)}:
                    return route
        raise AssertionError(f"no route key out of 64 was sent to {app.name}")


@pytest.fixture(scope="module")
def cluster(deployment: Deployment) -> Cluster:
    a, b = deployment.start("app_a", "app_b")
    return Cluster(a=a, b=b, nginx=deployment.start_nginx([a, b]))


@pytest.fixture
def api_a(cluster: Cluster) -> Iterator[Api]:
    api = Api(cluster.a.base_url)
    yield api
    api.close()


def route_cookie(page: Page) -> str:
    values = [c["value"] for c in page.context.cookies() if c["name"] == ROUTE_COOKIE]
    assert len(values) == 1, f"expected one {ROUTE_COOKIE} cookie, got {values}"
    return values[0]


def websocket_logged(cluster: Cluster, route: str) -> bool:
    return any(
        e["status"] == "101" and "/socket.io/" in e["request"] and "transport=websocket" in e["request"]
        for e in cluster.requests_of(route)
    )


def assert_sticky(cluster: Cluster, page: Page, expected: AppProcess | None = None) -> str:
    """Close the browser, then check: every request of it, its websocket included, went to one process.

    nginx logs a request when it ends, so the websocket's line appears only once the page is gone.
    """
    route = route_cookie(page)
    page.context.close()
    wait_until(lambda: websocket_logged(cluster, route), timeout=10, what=f"the websocket of route {route}")
    requests = cluster.requests_of(route)
    upstreams = cluster.served_by(route)
    assert len(upstreams) == 1, f"route {route} was served by {upstreams}: {requests}"
    (upstream,) = upstreams
    if expected is not None:
        assert upstream == cluster.upstream(expected), f"route {route} went to {upstream}, not {expected.name}"
    return upstream


def test_people_on_two_processes_see_each_others_messages_live(
    cluster: Cluster, new_person: Callable[[str], Page], record_property: Callable[[str, object], None]
) -> None:
    alice, bob = new_person(cluster.a.base_url), new_person(cluster.b.base_url)
    join(alice, "Alice")
    join(bob, "Bob")
    latency = Latency()
    for i in range(3):
        latency.measure(alice, bob, f"From A to B, {i + 1}")
        latency.measure(bob, alice, f"From B to A, {i + 1}")
    print(f"\nSend-to-seen, across two processes: {latency.summary()}")
    record_property("send_to_seen_ms_across_processes", [round(s) for s in latency.samples])


def test_nginx_sends_a_new_browser_and_its_websocket_to_one_process(
    cluster: Cluster, new_person: Callable[[str], Page]
) -> None:
    upstreams = set()
    for i in range(3):
        page = new_person(cluster.nginx.base_url)
        page.goto("/")  # no cookie yet: the first request is routed by its request id, which becomes the cookie
        expect(page.get_by_label("User name")).to_be_visible()
        wait_connected(page)
        route = route_cookie(page)
        # the page itself came without a cookie, under the key that became the cookie
        assert any(e["request"].startswith("GET / ") for e in cluster.requests_of(route))
        join(page, f"Visitor {i + 1}")
        upstreams.add(assert_sticky(cluster, page))
    assert upstreams <= {cluster.upstream(cluster.a), cluster.upstream(cluster.b)}


def test_through_nginx_people_on_different_processes_talk_and_api_posts_reach_them(
    cluster: Cluster, api_a: Api, new_person: Callable[[str], Page], record_property: Callable[[str, object], None]
) -> None:
    routes = {cluster.a.name: cluster.route_to(cluster.a), cluster.b.name: cluster.route_to(cluster.b)}
    people = {}
    for app, name in ((cluster.a, "Carl"), (cluster.b, "Dora")):
        page = new_person(cluster.nginx.base_url)
        page.context.add_cookies([{"name": ROUTE_COOKIE, "value": routes[app.name], "url": cluster.nginx.base_url}])
        join(page, name)
        people[app.name] = page
    carl, dora = people[cluster.a.name], people[cluster.b.name]
    # so far, the access log shows each of them served by the process their cookie names
    assert cluster.served_by(routes[cluster.a.name]) == {cluster.upstream(cluster.a)}
    assert cluster.served_by(routes[cluster.b.name]) == {cluster.upstream(cluster.b)}

    latency = Latency()
    for i in range(2):
        latency.measure(carl, dora, f"Through nginx from A to B, {i + 1}")
        latency.measure(dora, carl, f"Through nginx from B to A, {i + 1}")
    print(f"\nSend-to-seen, through nginx across two processes: {latency.summary()}")
    record_property("send_to_seen_ms_through_nginx", [round(s) for s in latency.samples])

    # a bot posts to process A directly; Dora's page, served by process B through nginx, shows it live
    bot = api_a.join("Build Bot")
    api_a.post(bot, "Build 1234 passed (posted to process A).")
    expect(message(dora, "Build 1234 passed (posted to process A).")).to_have_count(1)
    expect(message(carl, "Build 1234 passed (posted to process A).")).to_have_count(1)
    # and so it stayed, for every request including the websockets that carried the messages
    assert_sticky(cluster, carl, expected=cluster.a)
    assert_sticky(cluster, dora, expected=cluster.b)


def test_nginx_replaces_forwarded_headers_a_client_sends(cluster: Cluster) -> None:
    """A page on evil.example claims, through nginx, that the browser asked for evil.example: nginx overwrites it."""
    forged = {"Origin": "http://evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-For": "1.2.3.4"}
    with httpx.Client(base_url=cluster.nginx.base_url, timeout=5) as client:
        refused = client.post("/api/sessions", json={"name": "Forger"}, headers=forged)
        assert refused.status_code == 403, refused.text
        assert "cross-origin" in refused.json()["detail"]
        # the browser's own origin, as nginx serves it, is still welcome (the app trusts nginx's headers)
        own = client.post("/api/sessions", json={"name": "Honest"}, headers={"Origin": cluster.nginx.base_url})
        assert own.status_code == 201, own.text
