"""Settings, the Origin policy, security headers and log lines."""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import FastAPI

from chat.logs import SingleLineFormatter
from chat.settings import Settings, SettingsError
from chat.web_security import OriginPolicy, SecurityMiddleware


def test_nothing_configured_means_embedded() -> None:
    settings = Settings.from_env({})
    assert settings.embedded
    assert settings.storage_secret is None
    assert (settings.page_size, settings.max_message_length, settings.room) == (30, 2000, "lobby")


def test_real_backends_need_a_storage_secret_and_refuse_placeholders() -> None:
    with pytest.raises(SettingsError, match="CHAT_STORAGE_SECRET is required"):
        Settings.from_env({"CHAT_REDIS_URL": "redis://localhost:6379/0"})
    with pytest.raises(SettingsError, match="placeholder"):
        Settings.from_env({"CHAT_REDIS_URL": "redis://localhost:6379/0", "CHAT_STORAGE_SECRET": "changeme"})
    settings = Settings.from_env(
        {
            "CHAT_REDIS_URL": "redis://r:6379/0",
            "CHAT_STORAGE_SECRET": "s3cr3t-long",
            "CHAT_DYNAMODB_ENDPOINT": "http://d",
        }
    )
    assert not settings.embedded
    assert settings.dynamodb_endpoint == "http://d"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CHAT_DYNAMODB_ENDPOINT": "http://localhost:8000"}, "set both"),
        ({"CHAT_REDIS_URL": "localhost:6379", "CHAT_STORAGE_SECRET": "x" * 20}, "must start with redis://"),
        ({"CHAT_PAGE_SIZE": "ten"}, "CHAT_PAGE_SIZE must be a whole number"),
        ({"CHAT_PAGE_SIZE": "0"}, "CHAT_PAGE_SIZE must be at least 1"),
        ({"CHAT_RATE_PER_SECOND": "-1"}, "greater than 0"),
        ({"CHAT_NATIVE": "maybe"}, "true or false"),
    ],
)
def test_wrong_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_origin_policy() -> None:
    policy = OriginPolicy(["https://chat.example.com/"])
    assert policy.allows(None, scheme="http", host="app:8080")  # not a browser
    assert policy.allows("http://app:8080", scheme="http", host="app:8080")  # same origin
    assert policy.allows("https://chat.example.com", scheme="http", host="app:8080")  # configured
    assert policy.allows("https://app:8080", scheme="http", host="app:8080", forwarded=["https"])  # TLS proxy
    assert not policy.allows("https://evil.example", scheme="http", host="app:8080")
    assert not policy.allows("http://app:8080.evil.example", scheme="http", host="app:8080")
    assert policy.allows_environ("http://h:1", {"wsgi.url_scheme": "http", "HTTP_HOST": "h:1"})
    assert not policy.allows_environ("http://evil", {"wsgi.url_scheme": "http", "HTTP_HOST": "h:1"})


@pytest.fixture
def web_app() -> FastAPI:
    app = FastAPI()

    @app.post("/api/thing")
    async def thing() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/")
    async def page() -> dict[str, str]:
        return {"page": "yes"}

    app.add_middleware(SecurityMiddleware, policy=OriginPolicy([]))
    return app


async def test_cross_origin_api_requests_are_refused_and_headers_are_set(web_app: FastAPI) -> None:
    transport = httpx.ASGITransport(web_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as client:
        refused = await client.post("/api/thing", headers={"Origin": "https://evil.example"})
        assert refused.status_code == 403
        assert "not allowed" in refused.json()["detail"]
        same = await client.post("/api/thing", headers={"Origin": "http://app.test"})
        assert same.status_code == 200
        bot = await client.post("/api/thing")
        assert bot.status_code == 200
        page = await client.get("/")
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_user_text_cannot_forge_log_lines() -> None:
    formatter = SingleLineFormatter("%(levelname)s %(message)s")
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "session started for %s", ("x\nERROR forged",), None)
    line = formatter.format(record)
    assert "\n" not in line
    assert line == "INFO session started for x\\nERROR forged"
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "%s", ("a\u202eb\r",), None)
    assert formatter.format(record) == "INFO a\\u202eb\\r"
