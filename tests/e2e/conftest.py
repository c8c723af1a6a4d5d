"""Browser tests: the app started as ``python main.py`` subprocesses, driven by Debian's Chromium through Playwright.

Each module starts its own processes with their own table prefix and room, so that tests here never see messages
of another run sharing the same DynamoDB Local and Redis (the Redis channel is named after the room only).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, sync_playwright

from chat.storage import TableNames
from tests.conftest import REQUIRE_SERVICES, service_setting
from tests.helpers import free_port

from .processes import REPO, AppProcess, NginxProcess

CHROMIUM = os.environ.get("CHAT_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT: ViewportSize = {"width": 960, "height": 640}
SCREENSHOTS = os.environ.get("SINCHCHAT_SCREENSHOTS", "") not in ("", "0", "false")
SCREENSHOT_DIR = REPO / "docs" / "screenshots"


def required_tool(name: str) -> str:
    """The path of a program (a name on PATH, or a path) the test needs.

    Skips the test without it, or fails it with CHAT_REQUIRE_SERVICES=1.
    """
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed"
        if REQUIRE_SERVICES:
            pytest.fail(f"required program missing: {message}", pytrace=False)
        pytest.skip(message)
    return path


@dataclass(frozen=True)
class Backend:
    dynamodb_endpoint: str
    redis_url: str


@pytest.fixture(scope="session")
def backend() -> Backend:
    return Backend(
        dynamodb_endpoint=service_setting("CHAT_TEST_DYNAMODB_ENDPOINT"),
        redis_url=service_setting("CHAT_TEST_REDIS_URL"),
    )


def base_env() -> dict[str, str]:
    """The test's environment without CHAT_* settings and without pytest's and NiceGUI's test markers.

    NiceGUI switches to its own test mode when it sees PYTEST_CURRENT_TEST; the app must run as a person runs it.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAT_", "PYTEST_", "NICEGUI_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class Deployment:
    """App processes that share one table prefix, room, Redis and storage secret: one installation."""

    backend: Backend
    log_dir: Path
    prefix: str = field(default_factory=lambda: f"e2e{uuid.uuid4().hex[:8]}_")
    room: str = field(default_factory=lambda: f"e2e-{uuid.uuid4().hex[:8]}")
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    apps: list[AppProcess] = field(default_factory=list)
    nginx: NginxProcess | None = None
    extra_env: dict[str, str] = field(default_factory=dict)  # e.g. NICEGUI_* settings, for every process

    def start(self, *names: str, **settings: str) -> list[AppProcess]:
        """Start one process per name (in parallel), wait until each answers; ``settings`` are extra CHAT_* values."""
        started = []
        for name in names:
            env = base_env()
            env.update(
                CHAT_DYNAMODB_ENDPOINT=self.backend.dynamodb_endpoint,
                CHAT_REDIS_URL=self.backend.redis_url,
                CHAT_STORAGE_SECRET=self.secret,
                CHAT_TABLE_PREFIX=self.prefix,
                CHAT_ROOM=self.room,
                CHAT_PORT=str(free_port()),
                # nginx (start_nginx) runs on this machine and sets the X-Forwarded-* headers the app may believe
                CHAT_TRUSTED_PROXIES="127.0.0.1",
                # the tests seed hundreds of messages through a few sessions
                CHAT_RATE_BURST="1000",
                CHAT_RATE_PER_SECOND="1000",
                # and every browser here comes from 127.0.0.1
                CHAT_ADDRESS_RATE_PER_SECOND="1000",
                CHAT_ADDRESS_RATE_BURST="1000",
                CHAT_JOINS_PER_MINUTE="1000",
                CHAT_JOIN_BURST="1000",
                # DynamoDB Local accepts any credentials; never let a developer's real ones reach it
                AWS_ACCESS_KEY_ID="local",
                AWS_SECRET_ACCESS_KEY="local",
                AWS_DEFAULT_REGION="us-east-1",
                # each process keeps its browsers' sign-ins in its own folder, as on separate machines
                NICEGUI_STORAGE_PATH=str(self.log_dir / f"{name}-storage"),
            )
            env.update({f"CHAT_{key.upper()}": value for key, value in settings.items()})
            env.update(self.extra_env)
            app = AppProcess(name=name, env=env, log_dir=self.log_dir)
            self.apps.append(app)
            started.append(app)
        for app in started:
            app.wait_ready()
        return started

    def start_nginx(self, apps: list[AppProcess]) -> NginxProcess:
        required_tool("nginx")
        self.nginx = NginxProcess(
            directory=self.log_dir / "nginx", upstream_ports=[a.port for a in apps], log_dir=self.log_dir
        )
        self.nginx.wait_ready()
        return self.nginx

    def stop(self) -> None:
        """Stop everything; then check each app stopped on SIGINT alone, and drop the tables."""
        problems = []
        if self.nginx is not None:
            try:
                self.nginx.stop_cleanly()
            except AssertionError as exc:
                problems.append(str(exc))
        for app in self.apps:
            problems.extend(f"{app.name} logged: {line}" for line in app.error_lines())
            try:
                app.stop_cleanly()
            except AssertionError as exc:
                problems.append(str(exc))
        self._drop_tables()
        assert not problems, "\n".join(problems)

    @contextlib.contextmanager
    def dynamodb(self) -> Iterator[Any]:
        """A boto3 client of the installation's DynamoDB, for what a test writes or reads behind the app's back."""
        client = boto3.client(
            "dynamodb",
            endpoint_url=self.backend.dynamodb_endpoint,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        try:
            yield client
        finally:
            client.close()

    def _drop_tables(self) -> None:
        with self.dynamodb() as client:
            for table in dataclasses.astuple(TableNames.with_prefix(self.prefix)):  # every table the app made
                with contextlib.suppress(client.exceptions.ResourceNotFoundException):
                    client.delete_table(TableName=table)


@pytest.fixture(scope="module")
def deployment(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """A fresh installation for the module; start its processes with ``deployment.start(...)``."""
    deployment = Deployment(backend=backend, log_dir=tmp_path_factory.mktemp("apps"))
    try:
        yield deployment
    finally:
        deployment.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = required_tool(CHROMIUM)  # Debian's chromium package; Playwright's own browsers are never used
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_person(browser: Browser) -> Iterator[Callable[[str], Page]]:
    """``new_person(base_url)``: a new browser profile (its own cookies), with one tab open on nothing yet.

    Uncaught JavaScript errors in any of its tabs fail the test.
    """
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    def make(base_url: str) -> Page:
        # a fixed locale and time zone: the same rendering (and screenshots) on every machine
        context = browser.new_context(
            base_url=base_url,
            viewport=VIEWPORT,
            locale="en-US",
            timezone_id="UTC",
        )
        context.set_default_timeout(10_000)
        context.on("page", lambda page: page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}")))
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


@pytest.fixture
def record_property(request: pytest.FixtureRequest) -> Callable[[str, object], None]:
    """pytest's record_property without its warning under --junitxml's default family xunit2.

    Warnings are errors in this project. The values go to the report's user_properties, and into the JUnit XML
    with ``-o junit_family=legacy``.
    """

    def record(name: str, value: object) -> None:
        request.node.user_properties.append((name, value))

    return record


def screenshot(page: Page, name: str) -> None:
    """Save docs/screenshots/<name>.png when SINCHCHAT_SCREENSHOTS=1 (see scripts/screenshots.sh)."""
    if SCREENSHOTS:
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT_DIR / f"{name}.png"), animations="disabled", caret="hide")
