"""Settings, the Origin policy, security headers and log lines."""

from __future__ import annotations

import dataclasses
import logging
import secrets

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse

from chat.cookies import SessionCookies
from chat.logs import SingleLineFormatter
from chat.proxies import TrustedProxies
from chat.service import ChatService, Limits
from chat.settings import Settings, SettingsError
from chat.web_security import OriginPolicy, SecurityMiddleware
from chat.webapp import install_api


def test_nothing_configured_means_embedded() -> None:
    settings = Settings.from_env({})
    assert settings.embedded
    assert settings.storage_secret is None
    assert (settings.page_size, settings.max_message_length, settings.room) == (30, 2000, "lobby")


def test_defaults_are_written_once_in_settings_and_the_service_s_limits_follow_them() -> None:
    assert Settings.from_env({}) == Settings()
    settings = Settings(page_size=7, max_message_length=9, session_ttl_seconds=120, rate_burst=3, join_burst=2)
    limits = Limits.from_settings(settings)
    shared = [f.name for f in dataclasses.fields(Limits) if hasattr(settings, f.name)]
    assert len(shared) == 9
    assert all(getattr(limits, name) == getattr(settings, name) for name in shared)


def test_real_backends_need_a_storage_secret_and_refuse_placeholders() -> None:
    with pytest.raises(SettingsError, match="CHAT_STORAGE_SECRET is required"):
        Settings.from_env({"CHAT_REDIS_URL": "redis://localhost:6379/0"})
    with pytest.raises(SettingsError, match="placeholder"):
        Settings.from_env({"CHAT_REDIS_URL": "redis://localhost:6379/0", "CHAT_STORAGE_SECRET": "changeme"})
    secret = secrets.token_urlsafe(32)
    settings = Settings.from_env(
        {"CHAT_REDIS_URL": "redis://r:6379/0", "CHAT_STORAGE_SECRET": secret, "CHAT_DYNAMODB_ENDPOINT": "http://d"}
    )
    assert not settings.embedded
    assert settings.dynamodb_endpoint == "http://d"
    assert settings.storage_secret == secret


@pytest.mark.parametrize("weak", ["abc", "password", "s3cr3t-long", "x" * 64, "ab" * 20, secrets.token_hex(15)])
def test_a_weak_storage_secret_is_refused_outside_embedded_mode(weak: str) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"CHAT_REDIS_URL": "redis://r:6379/0", "CHAT_STORAGE_SECRET": weak})
    assert "at least 32 characters" in str(refused.value)
    assert "secrets.token_urlsafe(32)" in str(refused.value)  # and says how to make a good one
    assert weak not in str(refused.value)
    assert Settings.from_env({"CHAT_STORAGE_SECRET": weak}).storage_secret == weak  # embedded: signs nothing kept


def test_trusted_proxies_are_addresses_or_networks() -> None:
    assert not Settings.from_env({}).trusted_proxies.networks  # by default no forwarded header is believed
    proxies = Settings.from_env({"CHAT_TRUSTED_PROXIES": " 127.0.0.1, 10.0.0.0/8 ,::1"}).trusted_proxies
    assert [str(n) for n in proxies.networks] == ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]
    with pytest.raises(SettingsError, match="CHAT_TRUSTED_PROXIES: 'nginx' is not an IP address or network"):
        Settings.from_env({"CHAT_TRUSTED_PROXIES": "127.0.0.1,nginx"})


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
    assert not policy.allows("https://app:8080", scheme="http", host="app:8080")  # another scheme is another origin
    assert not policy.allows("https://evil.example", scheme="http", host="app:8080")
    assert not policy.allows("http://app:8080.evil.example", scheme="http", host="app:8080")


def scope(peer: str, **headers: str) -> dict[str, object]:
    raw = [(k.replace("_", "-").lower().encode(), v.encode()) for k, v in headers.items()]
    return {"type": "websocket", "scheme": "ws", "client": (peer, 40000), "headers": raw}


FORGED = {"origin": "https://evil.example", "x_forwarded_host": "evil.example", "x_forwarded_proto": "https"}


def test_the_websocket_handshake_believes_forwarded_headers_only_from_a_trusted_proxy() -> None:
    policy = OriginPolicy([], proxies=TrustedProxies.parse(["10.0.0.2"]))

    def handshake(peer: str, **headers: str) -> bool:
        # engineio builds wsgi.url_scheme from X-Forwarded-Proto itself, whoever sent it; the scope is what counts
        environ = {"wsgi.url_scheme": headers.get("x_forwarded_proto", "http"), "asgi.scope": scope(peer, **headers)}
        return policy.allows_environ(headers["origin"], environ)

    assert handshake("203.0.113.9", origin="http://app:8080", host="app:8080")
    assert not handshake("203.0.113.9", host="app:8080", **FORGED)  # a forged origin from anyone
    assert handshake("10.0.0.2", host="app:8080", **FORGED)  # the proxy says the browser asked for evil.example
    tls = {"origin": "https://chat.example.com", "x_forwarded_proto": "https", "x_forwarded_host": "chat.example.com"}
    assert handshake("10.0.0.2", host="app:8080", **tls)
    assert not handshake("203.0.113.9", host="app:8080", **tls)
    assert not policy.allows_environ("http://app:8080", {"HTTP_HOST": "app:8080"})  # no scope: nothing to check


@pytest.fixture
def web_app() -> FastAPI:
    app = FastAPI()

    @app.post("/api/thing")
    async def thing() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/")
    async def page() -> dict[str, str]:
        return {"page": "yes"}

    app.add_middleware(SecurityMiddleware, policy=OriginPolicy([], proxies=TrustedProxies.parse(["10.0.0.2"])))
    return app


async def test_cross_origin_api_requests_are_refused_and_headers_are_set(web_app: FastAPI) -> None:
    transport = httpx.ASGITransport(web_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as client:
        refused = await client.post("/api/thing", headers={"Origin": "https://evil.example"})
        assert refused.status_code == 403
        assert "not allowed" in refused.json()["detail"]
        assert refused.headers["x-frame-options"] == "DENY"
        same = await client.post("/api/thing", headers={"Origin": "http://app.test"})
        assert same.status_code == 200
        bot = await client.post("/api/thing")
        assert bot.status_code == 200
        page = await client.get("/")
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


async def test_forwarded_headers_count_for_the_origin_check_only_from_a_trusted_proxy(web_app: FastAPI) -> None:
    forged = {"Origin": "https://evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}
    tls = {"Origin": "https://chat.example", "X-Forwarded-Host": "chat.example", "X-Forwarded-Proto": "https"}
    for peer, allowed in ((("203.0.113.9", 5000), False), (("10.0.0.2", 5000), True)):
        transport = httpx.ASGITransport(web_app, client=peer)
        async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as client:
            for headers in (forged, tls):
                response = await client.post("/api/thing", headers=headers)
                assert response.status_code == (200 if allowed else 403), (peer, headers)


def test_user_text_cannot_forge_log_lines() -> None:
    formatter = SingleLineFormatter("%(levelname)s %(message)s")
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "session started for %s", ("x\nERROR forged",), None)
    line = formatter.format(record)
    assert "\n" not in line
    assert line == "INFO session started for x\\nERROR forged"
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "%s", ("a\u202eb\r",), None)
    assert formatter.format(record) == "INFO a\\u202eb\\r"


async def test_server_errors_carry_the_security_headers_and_pages_keep_their_own_error_page(
    memory_service: ChatService,
) -> None:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    async def error_page(request: Request, exc: Exception) -> Response:  # as NiceGUI's: pages only
        if request.url.path != "/page":
            raise exc
        return HTMLResponse("<p>our error page</p>", status_code=500)

    app.add_exception_handler(Exception, error_page)

    @app.get("/api/boom")
    @app.get("/page")
    @app.get("/elsewhere")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    install_api(app, service=memory_service, settings=Settings(), cookies=SessionCookies(secret="t" * 32, max_age=60))
    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as client:
        api, page, elsewhere = [await client.get(path) for path in ("/api/boom", "/page", "/elsewhere")]
    assert api.json() == {"detail": "Something went wrong on our side. It has been logged; try again later."}
    assert page.text == "<p>our error page</p>"
    assert elsewhere.text == "Internal Server Error"
    for response in (api, page, elsewhere):
        assert response.status_code == 500
        assert "secret internals" not in response.text
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
