"""The JSON API over ASGI, against the service on moto and fakeredis: statuses, bodies, headers and paging."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from datetime import datetime

import httpx
import pytest
from fakeredis import FakeAsyncRedis, FakeServer

from chat.bus import Bus
from chat.markdown import payload, render
from chat.models import is_message_key
from chat.service import ChatService
from chat.storage import Dynamo, TableNames
from tests.conftest import BUS_KEY, api_app, make_service, plant
from tests.helpers import wait_for
from tests.recording import RecordingSink, show


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


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_posting_and_reading_need_a_live_bearer_token(client: httpx.AsyncClient, method: str) -> None:
    auth = await join(client, "Eve")
    await client.post("/api/messages", json={"text": "only for those who joined"}, headers=auth)
    await client.delete("/api/sessions/current", headers=auth)  # an ended session reads nothing either
    cases: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer not-a-session"},
        {"Authorization": "Basic YWxpY2U6c2VjcmV0"},
        {"Authorization": "Bearer " + "x" * 300},
        auth,
    ]
    for headers in cases:
        body = {"text": "hi"} if method == "POST" else None
        response = await client.request(method, "/api/messages", json=body, headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
        assert isinstance(response.json()["detail"], str)
        assert "only for those" not in response.text


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
    assert (await client.get("/api/messages", headers=auth)).json() == {"messages": [message], "next_before": None}


async def test_a_retry_with_the_same_nonce_is_stored_once(client: httpx.AsyncClient) -> None:
    auth = await join(client, "Finn")
    first = await client.post("/api/messages", json={"text": "once", "nonce": "finn-0001"}, headers=auth)
    again = await client.post("/api/messages", json={"text": "once", "nonce": "finn-0001"}, headers=auth)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert len((await client.get("/api/messages", headers=auth)).json()["messages"]) == 1
    other = await client.post("/api/messages", json={"text": "other text", "nonce": "finn-0001"}, headers=auth)
    assert other.status_code == 409
    assert "already used for a different message" in other.json()["detail"]
    for bad in ("short", "has space in it", "ünïcödé-nonce", "x" * 65, "line\nbreak-1"):
        refused = await client.post("/api/messages", json={"text": "x", "nonce": bad}, headers=auth)
        assert (refused.status_code, refused.json()["detail"]) == (
            422,
            "That message id is not valid: use 8 to 64 letters, digits, _ or -.",
        ), bad
    assert len((await client.get("/api/messages", headers=auth)).json()["messages"]) == 1


@pytest.mark.parametrize(
    "key",
    [
        "2099-01-01T00:00:00.000Z#0123456789abcdef",  # would sit below every new message forever
        "2020-01-01T00:00:00.000Z#0123456789abcdef",  # would hide above the reader's history
        "2026-99-01T00:00:00.000Z#0123456789abcdef",
        "2026-01-01T00:00:00.000Z#0123456789abcdef\n",
    ],
)
async def test_a_client_cannot_choose_where_its_message_sits_in_time(client: httpx.AsyncClient, key: str) -> None:
    auth = await join(client, "Tess")
    refused = await client.post("/api/messages", json={"text": "time travel", "key": key}, headers=auth)
    assert refused.status_code == 422
    assert "key" in refused.json()["detail"]
    posted = await client.post("/api/messages", json={"text": "now"}, headers=auth)
    assert abs(time.time() - datetime.fromisoformat(posted.json()["created_at"]).timestamp()) < 5
    assert [m["text"] for m in (await client.get("/api/messages", headers=auth)).json()["messages"]] == ["now"]


@pytest.mark.parametrize(
    "cursor",
    [
        "2026-99-01T00:00:00.000Z#0123456789abcdef",
        "٢٠٢٦-01-01T00:00:00.000Z#0123456789abcdef",
        "2026-01-01T00:00:00.000Z#0123456789abcdef\n",
        "2026-02-30T00:00:00.000Z#0123456789abcdef",
    ],
)
async def test_a_malformed_cursor_is_422_and_history_still_works(client: httpx.AsyncClient, cursor: str) -> None:
    auth = await join(client, "Uma")
    await client.post("/api/messages", json={"text": "still readable"}, headers=auth)
    refused = await client.get("/api/messages", params={"before": cursor}, headers=auth)
    assert (refused.status_code, refused.json()) == (422, {"detail": "That cursor is not valid."})
    page = await client.get("/api/messages", headers=auth)
    assert [m["text"] for m in page.json()["messages"]] == ["still readable"]


async def test_a_bad_item_in_the_table_never_breaks_history(
    client: httpx.AsyncClient, memory_db: Dynamo, tables: TableNames
) -> None:
    auth = await join(client, "Vic")
    await client.post("/api/messages", json={"text": "good"}, headers=auth)
    for key in ("2026-99-01T00:00:00.000Z#0123456789abcdef", "٢٠٢٦-01-01T00:00:00.000Z#0123456789abcdef", "junk"):
        plant(memory_db, tables, key=key, text="planted")
    response = await client.get("/api/messages", headers=auth)
    assert response.status_code == 200
    assert [m["text"] for m in response.json()["messages"]] == ["good"]


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
        response = await client.get("/api/messages", params=params, headers=auth)
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
    auth = await join(client, "Kim")
    bad_cursor = await client.get("/api/messages", params={"before": "not-a-key"}, headers=auth)
    assert (bad_cursor.status_code, bad_cursor.json()) == (422, {"detail": "That cursor is not valid."})
    for limit in (0, 101, -1):
        assert (await client.get("/api/messages", params={"limit": limit}, headers=auth)).status_code == 422
    assert (await client.get("/api/messages", params={"before": "x" * 65}, headers=auth)).status_code == 422


async def test_the_rate_limit_is_429_with_an_integer_retry_after(
    memory_db: Dynamo, tables: TableNames, redis_server: FakeServer
) -> None:
    # one message a minute after the burst: however slow this machine posts the burst, no token comes back meanwhile
    service = make_service(
        memory_db, tables, Bus(redis=FakeAsyncRedis(server=redis_server), key=BUS_KEY), rate_per_second=1 / 60
    )
    transport = httpx.ASGITransport(api_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://chat.test") as client:
        await _refuses_the_eleventh(client)


async def _refuses_the_eleventh(client: httpx.AsyncClient) -> None:
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
    assert refused.json()["detail"] == f"You are sending too fast. Wait {retry_after} s and send again."
    assert len((await client.get("/api/messages", params={"limit": 100}, headers=auth)).json()["messages"]) == 10


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
    here = RecordingSink()
    memory_service.hub.attach(here)
    await show(memory_service.hub, "lobby")
    other_bus = Bus(redis=FakeAsyncRedis(server=redis_server), key=BUS_KEY)
    other = make_service(memory_db, tables, other_bus)  # a second process on the same DynamoDB and Redis
    there = RecordingSink()
    other.hub.attach(there)
    await other.hub.start(catch_up_interval=3600)
    try:
        await show(other.hub, "lobby")
        auth = await join(client, "Jon")
        posted = (await client.post("/api/messages", json={"text": "live 👋"}, headers=auth)).json()
        assert [payload(m) for m in here.of("lobby")] == [posted]  # this process: at once, before the response
        assert await wait_for(lambda: there.of("lobby"), timeout=3, interval=0.01)
        assert [payload(m) for m in there.of("lobby")] == [posted]
    finally:
        await other.hub.stop()


async def test_the_openapi_document_lists_every_route(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert set(paths) == {
        "/api/health",
        "/api/sessions",
        "/api/sessions/current",
        "/api/messages",
        "/api/rooms",
        "/api/rooms/{room}/messages",
        "/api/rooms/{room}/messages/{key}",
        "/api/rooms/{room}/messages/{key}/reactions/{emoji}",
        "/api/rooms/{room}/presence",
        "/api/rooms/{room}/typing",
        "/api/session/cookie",
    }


async def test_unknown_api_paths_and_methods_answer_json(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/json"
    assert missing.json() == {"detail": "There is no /api/nothing-here in this API. The routes are listed at /docs."}
    wrong = await client.put("/api/messages", json={"text": "x"})
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "GET, POST"
    assert wrong.json() == {"detail": "PUT is not allowed on /api/messages; use GET, POST."}


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"name=Mallory", "application/x-www-form-urlencoded"),
        (
            b"--b\r\nContent-Disposition: form-data; name=name\r\n\r\nMallory\r\n--b--",
            "multipart/form-data; boundary=b",
        ),
        (b'{"name": "Mallory"}', "text/plain"),
        (b'{"name": "Mallory"}', "application/json; charset=latin-1"),
        (b'{"name": "Mallory"}', ""),
    ],
)
async def test_a_body_that_is_not_json_is_415(client: httpx.AsyncClient, content: bytes, content_type: str) -> None:
    response = await client.post("/api/sessions", content=content, headers={"Content-Type": content_type})
    assert response.status_code == 415
    assert response.json()["detail"].startswith("Send the body as JSON (Content-Type: application/json), not ")


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        ('{"name": "Zoë"}'.encode("latin-1"), "The request body is not valid UTF-8 (at byte 12)."),
        ('{"name": "Zoe"}'.encode("utf-16"), "The request body is not valid UTF-8 (at byte 0)."),
        (b'{"name": "Zoe"', "The request body is not valid JSON: Expecting ',' delimiter (character 14)."),
        (
            b"\xef\xbb\xbf{}",
            "The request body starts with a byte order mark; send UTF-8 without one.",
        ),
    ],
)
async def test_a_body_that_is_not_utf8_json_is_400(client: httpx.AsyncClient, content: bytes, detail: str) -> None:
    response = await client.post("/api/sessions", content=content, headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()) == (400, {"detail": detail})


async def test_unknown_fields_are_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/sessions", json={"name": "Olga", "admin": True})
    assert (response.status_code, response.json()) == (422, {"detail": "admin: is not a field of this request"})
    auth = await join(client, "Olga")
    many = {"text": "hi", **{f"k{i}": i for i in range(2000)}}
    response = await client.post("/api/messages", json=many, headers=auth)
    assert response.status_code == 422
    assert response.json()["detail"].endswith("; and 1,995 more")
    assert (await client.get("/api/messages", headers=auth)).json()["messages"] == []


async def test_bodies_over_64_kib_are_413_and_nothing_is_stored(client: httpx.AsyncClient) -> None:
    auth = await join(client, "Pat")
    too_large = {"detail": "The request body is larger than 64 KiB. Send less."}
    seven_hundred_thousand_keys = {"text": "flood", **{f"k{i}": 0 for i in range(700_000)}}
    response = await client.post("/api/messages", json=seven_hundred_thousand_keys, headers=auth)
    assert (response.status_code, response.json()) == (413, too_large)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the bytes are counted as they come
        yield b'{"text": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}'

    chunked = await client.post("/api/messages", content=chunks(), headers={**auth, "Content-Type": "application/json"})
    assert "content-length" not in chunked.request.headers
    assert (chunked.status_code, chunked.json()) == (413, too_large)
    just_under = await client.post("/api/messages", json={"text": "x" * 2000, "pad": "y" * 60_000}, headers=auth)
    assert just_under.status_code == 422  # read and refused for its unknown field, not for its size
    assert (await client.get("/api/messages", headers=auth)).json()["messages"] == []


async def test_the_openapi_document_describes_the_body_errors(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path in ("/api/sessions", "/api/messages"):
        assert {"400", "413", "415", "422"} <= set(paths[path]["post"]["responses"]), path
    assert "415" not in paths["/api/messages"]["get"]["responses"]
    assert "401" in paths["/api/messages"]["get"]["responses"]
    assert paths["/api/messages"]["get"]["security"] == [{"HTTPBearer": []}]


async def test_the_docs_load_only_their_own_assets(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]  # no exemption needed any more
    urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", page.text)
    assert urls, page.text
    assert all(url.startswith("/") and not url.startswith("//") for url in urls), urls
    for url in urls:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url
    assert (await client.get("/docs/assets/..%2Fcore.py")).status_code == 404
    assert (await client.get("/redoc")).status_code == 404


async def test_each_text_is_rendered_once_however_often_it_is_read(client: httpx.AsyncClient) -> None:
    auth = await join(client, "Rea")
    for n in range(5):
        response = await client.post(
            "/api/messages", json={"text": f"**bold** and `code` no. {time.time_ns()}-{n}"}, headers=auth
        )
        assert response.status_code == 201
    rendered = render.cache_info().misses  # the Markdown parser's runs so far
    for _ in range(3):
        page = (await client.get("/api/messages", headers=auth)).json()["messages"]
        assert [m["html"].startswith("<p><strong>bold</strong> and <code>code</code>") for m in page] == [True] * 5
    assert render.cache_info().misses == rendered
