"""The HTTP answers of the app as main.py wires it onto NiceGUI: JSON under /api, NiceGUI's pages elsewhere."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import nicegui
import pytest
from nicegui import core, ui

from components.frame import CSS, STYLE_PATH

from .conftest import ChatApp


@pytest.fixture
async def http(chat_app: ChatApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(core.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def test_unknown_api_paths_get_json_and_unknown_pages_get_a_page_that_leads_back(
    http: httpx.AsyncClient,
) -> None:
    api = await http.get("/api/nothing")
    assert (api.status_code, api.headers["content-type"]) == (404, "application/json")
    assert api.json()["detail"].startswith("There is no /api/nothing in this API.")
    page = await http.get("/nothing<b>here</b>")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["x-frame-options"] == "DENY"
    assert "<title>Not found · sinchchat</title>" in page.text
    assert "This page doesn't exist." in page.text
    assert "There is nothing at /nothing" in page.text
    assert '"href":"/"' in page.text  # the link back to the lobby
    assert "Go to the lobby" in page.text
    assert "HTTPException" not in page.text
    assert "<b>here</b>" not in page.text  # the path is text, never markup


async def test_unknown_library_files_stay_json_404s(http: httpx.AsyncClient) -> None:
    # NiceGUI's own endpoints (scripts, components) answer a missing file with JSON, not with a page
    response = await http.get(f"/_nicegui/{nicegui.__version__}/components/nothing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"


async def test_a_page_that_fails_shows_a_plain_apology_and_logs_the_error_once(
    chat_app: ChatApp, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    @ui.page("/fails")
    def fails() -> None:
        raise RuntimeError("a bug in a page: secret-detail")

    response = await http.get("/fails")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "Something went wrong on our side." in response.text
    assert "Reload" in response.text
    # nothing of the error reaches the reader: neither its kind nor its words
    assert "secret-detail" not in response.text
    assert "RuntimeError" not in response.text
    logged = [r for r in caplog.records if r.levelname == "ERROR"]
    assert [str(r.exc_info[1]) for r in logged if r.exc_info] == ["a bug in a page: secret-detail"]  # logged once
    caplog.clear()  # that ERROR was this test's point


async def test_the_docs_work_without_internet(http: httpx.AsyncClient) -> None:
    page = await http.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page.text)
    assert {a.rsplit("/", 1)[1] for a in assets} == {"swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"}
    for asset in assets:
        assert asset.startswith("/docs/assets/")
        assert (await http.get(asset)).status_code == 200
    schema = (await http.get("/openapi.json")).json()
    assert schema["info"]["title"] == "sinchchat API"
    assert set(schema["paths"]) == {
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
        "/api/ready",
    }


async def test_pages_link_the_styles_as_a_file_the_browser_keeps(http: httpx.AsyncClient) -> None:
    page = await http.get("/")
    assert f'<link rel="stylesheet" href="{STYLE_PATH}">' in page.text
    assert ".sc-root" not in page.text  # not inline in every page
    styles = await http.get(STYLE_PATH)
    assert styles.status_code == 200
    assert styles.headers["content-type"].startswith("text/css")
    assert "immutable" in styles.headers["cache-control"]
    assert styles.text == CSS
