"""UI tests with NiceGUI's simulated users, against the app wired exactly as main.py wires it (embedded mode)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import pytest
from nicegui import core, ui
from nicegui.testing.general import nicegui_reset_globals, prepare_simulation
from nicegui.testing.user import User

from chat.cookies import COOKIE_NAME
from chat.runtime import Runtime
from chat.service import ChatService
from chat.settings import Settings
from main import mount
from tests.helpers import wait_for

# the calls the page asks the browser to make with fetch(url, options); the simulated user makes them too
_FETCH = re.compile(r"fetch\('(/api/[^']+)', (\{.*\})\)", re.DOTALL)


def simulated_browser(client: httpx.AsyncClient) -> User:
    """A User that also makes the page's fetch() calls over its own HTTP client (and so keeps their cookies)."""
    user = User(client)
    tasks: set[asyncio.Task[None]] = set()

    async def fetch(url: str, options: dict[str, object]) -> None:
        headers = options.get("headers", {})
        assert isinstance(headers, dict)
        await client.request(str(options["method"]), url, headers=headers, content=str(options.get("body", "")))

    def run(match: re.Match[str]) -> None:
        task = asyncio.get_running_loop().create_task(fetch(match.group(1), json.loads(match.group(2))))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    user.javascript_rules[_FETCH] = run
    return user


@dataclass
class ChatApp:
    runtime: Runtime
    new_user: Callable[[], User]

    @property
    def service(self) -> ChatService:
        return self.runtime.service


@pytest.fixture
def settings() -> Settings:
    # moto keeps its tables for the whole process: a prefix per test keeps tests apart
    return Settings(
        table_prefix=f"t{uuid.uuid4().hex[:8]}_",
        page_size=5,
        max_message_length=50,
        rate_per_second=100,
        rate_burst=100,
        # every simulated user comes from one address
        address_rate_per_second=1000,
        address_rate_burst=1000,
        joins_per_minute=1000,
        join_burst=1000,
    )


@pytest.fixture
async def chat_app(settings: Settings, caplog: pytest.LogCaptureFixture) -> AsyncIterator[ChatApp]:
    """The whole app in this process; ``new_user()`` is a new browser (its own cookies) talking to it."""
    with nicegui_reset_globals():
        os.environ["NICEGUI_USER_SIMULATION"] = "true"
        runtime = Runtime(settings)
        runtime.prepare()
        try:
            mount(runtime)
            prepare_simulation()
            ui.run(storage_secret=runtime.storage_secret)
            async with core.app.router.lifespan_context(core.app):
                yield ChatApp(
                    runtime=runtime,
                    new_user=lambda: simulated_browser(
                        httpx.AsyncClient(transport=httpx.ASGITransport(core.app), base_url="http://test")
                    ),
                )
        finally:
            os.environ.pop("NICEGUI_USER_SIMULATION", None)
    errors = [r for r in caplog.get_records("call") if r.levelname == "ERROR"]
    assert not errors, f"unexpected ERROR logs: {[r.getMessage() for r in errors]}"


async def join(user: User, name: str) -> None:
    """Open the app and join as ``name``."""
    await user.open("/")
    user.find(marker="name").type(name)
    user.find(marker="join").click()
    await user.should_see(marker="messages")
    # the page's fetch() signs the browser in with a cookie
    signed_in = await wait_for(lambda: COOKIE_NAME in user.http_client.cookies, timeout=1, interval=0.01)
    assert signed_in, "the page did not set the sign-in cookie"
