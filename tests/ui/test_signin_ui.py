"""Sign-ins on the page: the signed cookie alone signs a browser in, on any process; anything else shows the form."""

from __future__ import annotations

import asyncio

import httpx
from nicegui import core

from chat.cookies import COOKIE_NAME, SessionCookies

from .conftest import ChatApp, join, simulated_browser


def browser_with_cookie(value: str) -> httpx.AsyncClient:
    """A browser with nothing but this sign-in cookie: none of NiceGUI's, as if it reached another process."""
    client = httpx.AsyncClient(transport=httpx.ASGITransport(core.app), base_url="http://test")
    client.cookies.set(COOKIE_NAME, value)
    return client


async def test_the_cookie_alone_signs_the_browser_in(chat_app: ChatApp) -> None:
    first = chat_app.new_user()
    await join(first, "Mover")
    moved = simulated_browser(browser_with_cookie(first.http_client.cookies[COOKIE_NAME]))
    await moved.open("/")
    await moved.should_see(marker="messages")
    await moved.should_see("Mover")
    await moved.should_not_see(marker="join")


async def test_a_forged_cookie_shows_the_login_form(chat_app: ChatApp) -> None:
    first = chat_app.new_user()
    await join(first, "Target")
    genuine = first.http_client.cookies[COOKIE_NAME]
    for forged in (genuine[:-3] + "abc", "garbage", genuine.split(".")[0]):
        stranger = simulated_browser(browser_with_cookie(forged))
        await stranger.open("/")
        await stranger.should_see(marker="join")
        await stranger.should_not_see(marker="messages")
        await stranger.should_not_see(marker="login-notice")


async def test_the_cookie_of_an_ended_session_shows_the_form_saying_so(chat_app: ChatApp) -> None:
    user = chat_app.new_user()
    await join(user, "Leaver")
    stale = user.http_client.cookies[COOKIE_NAME]
    signed = SessionCookies(secret=chat_app.runtime.storage_secret, max_age=60).read(stale)
    assert signed is not None
    await chat_app.service.logout(await chat_app.service.resume(signed.token))  # e.g. from the API
    later = simulated_browser(browser_with_cookie(stale))
    await later.open("/")
    await later.should_see("Your session has ended. Join again.")
    await later.should_not_see(marker="messages")


async def test_logout_clears_the_cookie(chat_app: ChatApp) -> None:
    user = chat_app.new_user()
    await join(user, "Tidy")
    user.find(marker="messages").trigger("logout")
    await user.should_see(marker="join")
    for _ in range(100):
        if COOKIE_NAME not in user.http_client.cookies:
            break
        await asyncio.sleep(0.01)
    assert COOKIE_NAME not in user.http_client.cookies
