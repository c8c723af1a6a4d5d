"""The JSON API over ASGI, against the service on moto and fakeredis: statuses, bodies, headers and paging."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fakeredis import FakeAsyncRedis, FakeServer
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from chat.api import build_router, chat_error_handler, validation_error_handler
from chat.bus import Bus
from chat.cookies import SessionCookies
from chat.errors import ChatError
from chat.models import Message, is_message_key
from chat.service import ChatService
from chat.storage import Dynamo, TableNames
from tests.conftest import make_service


def api_app(service: ChatService) -> FastAPI:
    app = FastAPI()
    app.include_router(build_router(service, cookies=SessionCookies(secret="test secret", max_age=3600)))
    app.add_exception_handler(ChatError, chat_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    return app


@pytest.fixture
async def client(memory_service: ChatService) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(api_app(memory_service))
    async with httpx.AsyncClient(transport=transport, base_url="http://chat.test") as client:
        yield client


async def join(client: httpx.AsyncClient, name: str) -> dict[str, str]:
    """Register ``name``; the Authorization header of its session."""
    response = await client.post("/api/sessions", json={"name": name})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


async def wait_for(predicate: Callable[[], object], timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_register_returns_201_with_a_token(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/sessions", json={"name": "  Alice "})
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "Alice"
    assert len(body["token"]) >= 40
    assert body["expires_at"] > time.time()


async def test_a_taken_name_is_409_with_a_readable_detail(client: httpx.AsyncClient) -> None:
    await join(client, "Alice")
    response = await client.post("/api/sessions", json={"name": "Alice"})
    assert response.status_code == 409
    assert response.json() == {"detail": "The name 'Alice' is in use. Pick another one."}
    for other in ["alice", "ALICE", "\u0410lice"]:  # the last with a Cyrillic A
        response = await client.post("/api/sessions", json={"name": other})
        assert response.status_code == 409
        detail = f"The name {other!r} is too similar to 'Alice', who is online. Pick another one."
        assert response.json() == {"detail": detail}


@pytest.mark.parametrize(
    ("name", "detail"),
    [
        ("<b>", "A name can only have letters, digits, spaces and _ - . (not '<')."),
        ("a", "A name needs at least 2 characters."),
        ("x" * 33, "A name can have at most 32 characters."),
        ("a\u200bb", "A name can only have letters, digits, spaces and _ - . (not U+200B)."),
    ],
)
async def test_an_invalid_name_is_422_with_the_rule_it_breaks(
    client: httpx.AsyncClient, name: str, detail: str
) -> None:
    response = await client.post("/api/sessions", json={"name": name})
    assert response.status_code == 422
    assert response.json() == {"detail": detail}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, ["name", "Field required"]),
        ({"name": 5}, ["name", "valid string"]),
        ({"name": "x" * 1001}, ["name", "at most 1000 characters"]),
    ],
)
async def test_a_malformed_body_is_422_and_says_what_is_wrong(
    client: httpx.AsyncClient, body: dict[str, object], words: list[str]
) -> None:
    # FastAPI's own validation answers these, before the service sees them
    response = await client.post("/api/sessions", json=body)
    assert response.status_code == 422
    assert "detail" in response.json()
    for word in words:
        assert word in response.text


async def test_posting_needs_a_live_bearer_token(client: httpx.AsyncClient) -> None:
    cases: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer not-a-session"},
        {"Authorization": "Basic YWxpY2U6c2VjcmV0"},
        {"Authorization": "Bearer " + "x" * 300},
    ]
    for headers in cases:
        response = await client.post("/api/messages", json={"text": "hi"}, headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
        assert isinstance(response.json()["detail"], str)
    assert (await client.get("/api/messages")).json()["messages"] == []


async def test_post_returns_201_with_the_stored_message(client: httpx.AsyncClient) -> None:
    auth = await join(client, "Zoë")
    response = await client.post("/api/messages", json={"text": "  hello <b>world</b>\n "}, headers=auth)
    assert response.status_code == 201
    message = response.json()
    assert message["text"] == "hello <b>world</b>"
    assert message["author"] == "Zoë"
    assert message["room"] == "lobby"
    assert is_message_key(message["key"])
    assert message["created_at"].endswith("Z")
    assert (await client.get("/api/messages")).json() == {"messages": [message], "next_before": None}


async def test_a_retry_with_the_same_key_is_stored_once(client: httpx.AsyncClient) -> None:
    auth = await join(client, "Finn")
    first = await client.post("/api/messages", json={"text": "once"}, headers=auth)
    again = await client.post("/api/messages", json={"text": "once", "key": first.json()["key"]}, headers=auth)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert len((await client.get("/api/messages")).json()["messages"]) == 1
    bad_key = await client.post("/api/messages", json={"text": "x", "key": "nope"}, headers=auth)
    assert (bad_key.status_code, bad_key.json()) == (422, {"detail": "That message id is not valid."})


async def test_over_long_text_is_422_with_both_numbers(client: httpx.AsyncClient) -> None:
    auth = await join(client, "Gus")
    response = await client.post("/api/messages", json={"text": "x" * 2001}, headers=auth)
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "This message has 2,001 characters; the limit is 2,000. Shorten it and send again."
    )


async def test_history_pages_walk_every_message_exactly_once(client: httpx.AsyncClient) -> None:
    sent: list[str] = []
    for user in range(4):  # 4 senders x 6 messages stays under each sender's burst of 10
        auth = await join(client, f"user{user}")
        for i in range(6):
            response = await client.post("/api/messages", json={"text": f"{user}-{i}"}, headers=auth)
            sent.append(response.json()["key"])
    seen: list[str] = []
    before: str | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 5} if before is None else {"limit": 5, "before": before}
        response = await client.get("/api/messages", params=params)
        assert response.status_code == 200
        page = response.json()
        keys = [m["key"] for m in page["messages"]]
        assert keys == sorted(keys)  # oldest first within a page
        seen = keys + seen
        pages += 1
        before = page["next_before"]
        if before is None:
            break
        assert before == keys[0]
    assert seen == sorted(sent)
    assert pages == 5  # 5 + 5 + 5 + 5 + 4: the last page says it is the start


async def test_history_refuses_bad_cursors_and_sizes(client: httpx.AsyncClient) -> None:
    bad_cursor = await client.get("/api/messages", params={"before": "not-a-key"})
    assert (bad_cursor.status_code, bad_cursor.json()) == (422, {"detail": "That cursor is not valid."})
    for limit in (0, 101, -1):
        assert (await client.get("/api/messages", params={"limit": limit})).status_code == 422
    assert (await client.get("/api/messages", params={"before": "x" * 65})).status_code == 422


async def test_the_rate_limit_is_429_with_an_integer_retry_after(client: httpx.AsyncClient) -> None:
    auth = await join(client, "Hal")
    statuses = [
        (await client.post("/api/messages", json={"text": f"m{i}"}, headers=auth)).status_code for i in range(10)
    ]
    assert statuses == [201] * 10
    refused = await client.post("/api/messages", json={"text": "one too many"}, headers=auth)
    assert refused.status_code == 429
    retry_after = refused.headers["retry-after"]
    assert retry_after.isdigit()
    assert int(retry_after) >= 1
    assert "too fast" in refused.json()["detail"]
    assert len((await client.get("/api/messages", params={"limit": 100})).json()["messages"]) == 10


async def test_logout_is_204_then_the_token_is_refused_and_the_name_free(client: httpx.AsyncClient) -> None:
    auth = await join(client, "Ivy")
    assert (await client.delete("/api/sessions/current", headers=auth)).status_code == 204
    after = await client.post("/api/messages", json={"text": "still here?"}, headers=auth)
    assert after.status_code == 401
    assert after.json() == {"detail": "Your session has ended. Join again."}
    assert (await client.delete("/api/sessions/current", headers=auth)).status_code == 401
    assert (await client.delete("/api/sessions/current")).status_code == 401
    await join(client, "ivy")  # the name is free again


async def test_a_message_posted_through_the_api_reaches_live_listeners_here_and_in_another_process(
    client: httpx.AsyncClient,
    memory_service: ChatService,
    memory_db: Dynamo,
    tables: TableNames,
    redis_server: FakeServer,
) -> None:
    here: list[Message] = []
    memory_service.feed.subscribe(here.extend)
    other_bus = Bus(redis=FakeAsyncRedis(server=redis_server), room="lobby")
    other = make_service(memory_db, tables, other_bus)  # a second process on the same DynamoDB and Redis
    await other.feed.start(catch_up_interval=3600)
    try:
        await asyncio.wait_for(other_bus.connected.wait(), 3)
        there: list[Message] = []
        other.feed.subscribe(there.extend)
        auth = await join(client, "Jon")
        posted = (await client.post("/api/messages", json={"text": "live 👋"}, headers=auth)).json()
        assert [m.to_json() for m in here] == [posted]  # this process: at once, before the response
        await wait_for(lambda: there)
        assert [m.to_json() for m in there] == [posted]
    finally:
        await other.feed.stop()


async def test_the_openapi_document_lists_every_route(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert set(paths) == {
        "/api/health",
        "/api/sessions",
        "/api/sessions/current",
        "/api/messages",
        "/api/session/cookie",
    }
