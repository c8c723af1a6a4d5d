"""The sign-in cookie through the API: how it is set, renewed and cleared, and what it refuses."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.responses import Response

from chat.cookies import COOKIE_NAME, SessionCookies
from chat.service import ChatService
from tests.unit.test_api import api_app, join


def client_for(service: ChatService, base_url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(api_app(service)), base_url=base_url)


@pytest.fixture
async def client(memory_service: ChatService) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(memory_service, "http://chat.test") as client:
        yield client


async def test_the_cookie_is_signed_httponly_lax_and_lives_as_long_as_a_session(client: httpx.AsyncClient) -> None:
    auth = await join(client, "Cookie")
    response = await client.post("/api/session/cookie", headers=auth, json={"name": "Cookie"})
    assert response.status_code == 204
    header = response.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in header.split(";")}
    assert {"httponly", "max-age", "path", "samesite"} <= attributes
    assert "samesite=lax" in header.lower()
    assert "max-age=3600" in header.lower()
    assert "secure" not in attributes  # plain http here
    assert auth["Authorization"].removeprefix("Bearer ") not in header  # signed, and not the bare token


async def test_over_tls_the_cookie_is_secure(memory_service: ChatService) -> None:
    async with client_for(memory_service, "https://chat.test") as client:
        auth = await join(client, "Secure")
        response = await client.post("/api/session/cookie", headers=auth)
        assert "secure" in {part.strip().lower() for part in response.headers["set-cookie"].split(";")}


async def test_the_cookie_renews_itself_and_delete_clears_it(client: httpx.AsyncClient) -> None:
    auth = await join(client, "Renew")
    assert (await client.post("/api/session/cookie", headers=auth)).status_code == 204
    assert COOKIE_NAME in client.cookies
    renewed = await client.post("/api/session/cookie")  # no token: the cookie vouches for itself
    assert renewed.status_code == 204
    assert COOKIE_NAME in renewed.headers["set-cookie"]
    cleared = await client.delete("/api/session/cookie")
    assert cleared.status_code == 204
    assert COOKIE_NAME not in client.cookies


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-session"}],
    ids=["nothing", "unknown token"],
)
async def test_no_cookie_without_a_live_session(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    response = await client.post("/api/session/cookie", headers=headers)
    assert response.status_code == 401
    assert "set-cookie" not in response.headers


async def test_a_forged_or_foreign_cookie_is_refused(memory_service: ChatService, client: httpx.AsyncClient) -> None:
    auth = await join(client, "Victim")
    token = auth["Authorization"].removeprefix("Bearer ")
    session = await memory_service.resume(token)
    signed_elsewhere = Response()
    SessionCookies(secret="another deployment", max_age=3600).set(signed_elsewhere, session, secure=False)
    foreign = signed_elsewhere.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    for value in (foreign, foreign[:-2] + "xx", token):
        client.cookies.set(COOKIE_NAME, value)
        assert (await client.post("/api/session/cookie")).status_code == 401


@pytest.mark.parametrize("name", ["", "x" * 1000, "\ufdfa" * 200, "admin"])
async def test_a_name_no_session_can_hold_is_refused_not_an_error(client: httpx.AsyncClient, name: str) -> None:
    auth = await join(client, "Holder")
    response = await client.post("/api/session/cookie", headers=auth, json={"name": name})
    assert response.status_code == 401
