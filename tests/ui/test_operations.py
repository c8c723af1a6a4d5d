"""What an operator relies on, against the whole app in this process: /metrics wired to real actions, readiness,
no secret in any log line, and posts that survive a shutdown."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from nicegui import background_tasks, core

from chat.cookies import COOKIE_NAME, SessionCookies
from chat.metrics import Metrics
from chat.models import Draft, Message
from chat.settings import Settings
from chat.storage import Page

from .conftest import ChatApp, join
from .test_chat_ui import eventually, send


@pytest.fixture
def settings() -> Settings:
    return Settings(table_prefix=f"t{secrets.token_hex(4)}_", page_size=5, rate_per_second=0.01, rate_burst=3)


@pytest.fixture
async def api(chat_app: ChatApp) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app from this machine (ASGITransport's peer is 127.0.0.1)."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(core.app), base_url="http://chat.test") as client:
        yield client


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


async def test_metrics_count_what_the_api_and_the_page_did(chat_app: ChatApp, api: httpx.AsyncClient) -> None:
    reader = chat_app.new_user()
    await join(reader, "Reader")  # one open tab
    token = (await api.post("/api/sessions", json={"name": "Bot"})).json()["token"]
    statuses = [
        (
            await api.post("/api/messages", json={"text": f"m{i}"}, headers={"Authorization": f"Bearer {token}"})
        ).status_code
        for i in range(4)
    ]
    assert statuses == [201, 201, 201, 429]  # a burst of 3
    assert (await api.post("/api/sessions", json={"name": "bot"})).status_code == 409
    metrics = chat_app.runtime.metrics
    await eventually(lambda: _at_least(value(metrics, "sinchchat_announce_to_emit_seconds_count"), 3))
    response = await api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for line in (
        "sinchchat_messages_stored_total 3.0",
        "sinchchat_messages_announced_total 3.0",
        "sinchchat_rate_limited_total 1.0",
        'sinchchat_errors_total{kind="RateLimited"} 1.0',
        'sinchchat_errors_total{kind="NameTaken"} 1.0',
        "sinchchat_open_tabs 1.0",
        "sinchchat_post_seconds_count 3.0",
    ):
        assert line in text.splitlines(), line


def _at_least(found: float, wanted: float) -> None:
    assert found >= wanted


async def test_metrics_are_refused_to_other_machines_and_to_proxied_requests(chat_app: ChatApp) -> None:
    remote = httpx.ASGITransport(core.app, client=("203.0.113.9", 40000))
    async with httpx.AsyncClient(transport=remote, base_url="http://chat.test") as client:
        response = await client.get("/metrics")
    assert response.status_code == 403
    assert "CHAT_METRICS_PUBLIC" in response.json()["detail"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(core.app), base_url="http://chat.test") as client:
        # the proxy runs on this machine, the browser behind it does not
        assert (await client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})).status_code == 403


async def test_ready_answers_200_in_embedded_mode(api: httpx.AsyncClient) -> None:
    async with asyncio.timeout(5):  # the subscriber subscribes in a task of its own after start-up
        while (response := await api.get("/api/ready")).status_code != 200:
            await asyncio.sleep(0.05)
    assert response.json() == {"status": "ready"}
    assert (await api.get("/api/health")).json() == {"status": "ok"}


async def test_no_token_cookie_or_secret_ever_reaches_the_log(
    chat_app: ChatApp, api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A whole flow, logged at DEBUG for our loggers and INFO for NiceGUI's and uvicorn's (the last one only
    matters for a real server: its access log holds the path and the query, never a header)."""
    for name in ("uvicorn", "uvicorn.access", "uvicorn.error", "nicegui"):
        caplog.set_level(logging.INFO, logger=name)
    for name in ("chat", "components"):
        caplog.set_level(logging.DEBUG, logger=name)  # last: the capturing handler keeps this level
    forged = "forged" + secrets.token_urlsafe(32)

    # a person in the page: join, post, reload with the cookie, then log out
    alice = chat_app.new_user()
    await join(alice, "Alice")
    await send(alice, "hello from the page")
    await alice.should_see("hello from the page")
    await alice.open("/")
    await alice.should_see("hello from the page")
    cookies = [cookie.value for cookie in alice.http_client.cookies.jar]
    signed = SessionCookies(secret=chat_app.runtime.storage_secret, max_age=60).read(
        alice.http_client.cookies.get(COOKIE_NAME)
    )
    assert signed is not None, "the page set no sign-in cookie"
    session = await chat_app.service.resume(signed.token, name=signed.name)
    # the same page with a cookie someone altered
    tampered = httpx.AsyncClient(transport=httpx.ASGITransport(core.app), base_url="http://chat.test")
    async with tampered:
        page = await tampered.get("/", headers={"Cookie": f"session={cookies[0][:-4]}AAAA"})
        assert page.status_code == 200

    # a bot through the API: join, post, read, a forged token, log out
    bot = (await api.post("/api/sessions", json={"name": "Bot"})).json()["token"]
    auth = {"Authorization": f"Bearer {bot}"}
    assert (await api.post("/api/messages", json={"text": "hello from the API"}, headers=auth)).status_code == 201
    assert (await api.get("/api/messages", headers=auth)).status_code == 200
    for method, path in (("POST", "/api/messages"), ("DELETE", "/api/sessions/current")):
        refused = await api.request(
            method,
            path,
            json={"text": "x"} if method == "POST" else None,
            headers={"Authorization": f"Bearer {forged}"},
        )
        assert refused.status_code == 401
    assert (await api.delete("/api/sessions/current", headers=auth)).status_code == 204
    await chat_app.runtime.service.logout(session)

    records = caplog.get_records("call")
    assert any(r.name.startswith("chat") for r in records), "nothing was logged: the capture is not working"
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in records)
    secrets_ = {
        "the page's session token": session.token,
        "the API session token": bot,
        "the forged token": forged,
        "the storage secret": chat_app.runtime.storage_secret,
        **{f"cookie {i}": value for i, value in enumerate(cookies)},
    }
    leaked = [what for what, secret in secrets_.items() if secret in logged]
    assert not leaked, f"logged: {leaked}"


async def test_a_post_under_way_when_the_process_stops_is_stored_not_cancelled(
    chat_app: ChatApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = chat_app.new_user()
    await join(alice, "Alice")
    store = chat_app.runtime.service.messages
    writing = asyncio.Event()
    release = asyncio.Event()
    put = store.put

    async def slow_put(draft: Draft) -> Message:
        writing.set()
        await release.wait()  # DynamoDB takes its time
        return await put(draft)

    monkeypatch.setattr(store, "put", slow_put)
    await send(alice, "sent just before the stop")
    await asyncio.wait_for(writing.wait(), 3)
    # what NiceGUI's shutdown does first: cancel the background tasks, except those it must await
    stopping = asyncio.create_task(background_tasks.teardown())
    await asyncio.sleep(0.1)
    release.set()
    await asyncio.wait_for(stopping, 5)
    page = await chat_app.service.history("lobby")
    assert [m.text for m in page.messages] == ["sent just before the stop"]


async def test_a_page_that_waits_on_slow_storage_still_shows_the_chat_not_an_error_page(
    chat_app: ChatApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a reconnect storm (a process restarted, its tabs reloading on the survivor) a page can take seconds to
    read its history; it must then come late, never as NiceGUI's "took longer than the response_timeout" page."""
    alice = chat_app.new_user()
    await join(alice, "Alice")
    await send(alice, "still here")
    store = chat_app.runtime.service.messages
    page = store.page

    async def slow_page(*args: Any, **kwargs: Any) -> Page:
        await asyncio.sleep(4.0)  # longer than NiceGUI's default of 3 s to build a page
        return await page(*args, **kwargs)

    monkeypatch.setattr(store, "page", slow_page)
    await alice.open("/")  # a reload of the signed-in tab
    await alice.should_see("Alice: still here", retries=20)
