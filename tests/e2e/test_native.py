"""``python main.py --native``: under a virtual X display the desktop window shows the app and closes cleanly; where
the window cannot open, the app says why and exits non-zero before it starts anything.

The window tests need the project's ``native`` extra (pywebview with Qt: ``uv sync --all-extras``) and the Debian
packages xvfb, x11-apps (xwd), libxcb-cursor0, libxcb-icccm4 and libxcb-keysyms1 (Qt's xcb platform plugin links
them). They run in embedded mode: no services.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.blocked_imports import without_packages
from tests.conftest import REQUIRE_SERVICES
from tests.helpers import free_port, wait_until

from .chat_page import message_box
from .conftest import base_env, required_tool
from .devtools import PageDriver
from .processes import REPO, Child, marked_pids
from .xscreen import grab

pytestmark = pytest.mark.e2e


def required_module(name: str) -> None:
    if importlib.util.find_spec(name) is None:
        message = f"Python package {name} is missing (uv sync --all-extras installs the native extra)"
        if REQUIRE_SERVICES:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def start_native(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``python main.py *args`` in embedded mode, to its end; the window must never get as far as the server."""
    return subprocess.run(
        [sys.executable, "main.py", *args],
        cwd=REPO,
        env={**env, "CHAT_PORT": str(free_port())},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_refused_before_start(result: subprocess.CompletedProcess[str], reason: str) -> None:
    assert result.returncode != 0, f"exited with 0:\n{result.stderr}"
    assert reason in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert "Embedded mode" not in result.stderr  # it stopped before starting the backends or the server


def without_display() -> dict[str, str]:
    return {k: v for k, v in base_env().items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}


def test_native_without_the_extra_names_the_install_command(tmp_path: Path) -> None:
    env = without_packages(["webview"], directory=tmp_path / "shim", env=without_display())
    for args, extra in (((), {"CHAT_NATIVE": "1"}), (("--native",), {})):
        result = start_native({**env, **extra}, *args)
        assert_refused_before_start(result, "uv sync --extra native")


def test_native_without_a_display_exits_with_the_reason() -> None:
    required_module("webview")
    required_module("PyQt6.QtWebEngineWidgets")
    assert_refused_before_start(start_native(without_display(), "--native"), "there is no display")


def test_native_on_a_display_that_cannot_be_reached_exits_with_qts_reason() -> None:
    required_module("webview")
    required_module("PyQt6.QtWebEngineWidgets")
    result = start_native({**without_display(), "DISPLAY": ":4093", "QT_QPA_PLATFORM": "xcb"}, "--native")
    assert_refused_before_start(result, "could not connect to display :4093")


def environment_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode(errors="replace").split("=", 1) for item in raw if b"=" in item)


def cmdline_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_native_window_shows_the_app_and_closes_without_leftovers(tmp_path: Path) -> None:
    xvfb_run = required_tool("xvfb-run")
    required_tool("xwd")
    required_module("webview")
    required_module("PyQt6.QtWebEngineWidgets")

    port = free_port()
    env = base_env()
    env.update(
        CHAT_PORT=str(port),
        QTWEBENGINE_DISABLE_SANDBOX="1",  # Chromium's sandbox needs user namespaces, which containers rarely allow
        NICEGUI_STORAGE_PATH=str(tmp_path / "storage"),
    )
    argv = [xvfb_run, "-a", "-s", "-screen 0 1280x800x24", sys.executable, "main.py", "--native"]
    runner = Child(name="native", argv=argv, env=env, log_dir=tmp_path)
    try:
        url = f"http://127.0.0.1:{port}/"

        def page_served() -> bool:
            assert runner.alive(), f"the native app exited early:\n{runner.log_tail()}"
            try:
                response = httpx.get(url, timeout=2)
            except httpx.TransportError:
                return False
            return response.status_code == 200 and "User name" in response.text

        wait_until(page_served, timeout=60, what="the page to be served")

        def app_pid() -> int | None:
            command = f"{sys.executable} main.py --native"
            return next((p for p in marked_pids(runner.marker) if cmdline_of(p).strip() == command), None)

        def window_pids() -> list[int]:
            return [p for p in marked_pids(runner.marker) if "multiprocessing.spawn" in cmdline_of(p)]

        def webengine_pids() -> list[int]:
            return [p for p in marked_pids(runner.marker) if "QtWebEngineProcess" in cmdline_of(p)]

        wait_until(lambda: window_pids() and webengine_pids(), timeout=60, what="the window and its web engine")
        window = window_pids()[0]
        time.sleep(3)
        assert window in window_pids(), f"the window process died:\n{runner.log_tail()}"

        main = app_pid()
        assert main is not None
        display_env = environment_of(main)
        display = display_env["DISPLAY"]
        picture = None
        deadline = time.monotonic() + 30
        while picture is None or picture.is_blank():
            assert time.monotonic() < deadline, f"the X display stayed blank:\n{runner.log_tail()}"
            time.sleep(0.5)
            picture = grab(display=display, env={**env, "XAUTHORITY": display_env.get("XAUTHORITY", "")})
        picture.save_png(tmp_path / "native.png")
        print(f"\nnative window picture: {tmp_path / 'native.png'}")

        # Ctrl-C for the app: it closes its window and ends; xvfb-run then stops the X server
        os.kill(main, signal.SIGINT)
        wait_until(lambda: not runner.alive(), timeout=30, what="the native app and xvfb-run to exit")
        wait_until(lambda: not marked_pids(runner.marker), timeout=10, what="every child process to end")
    finally:
        runner.stop(signal.SIGTERM, grace=5, check=False)  # only a failed test leaves something to stop
    # xvfb-run passes on the app's status: 130 is "ended by SIGINT", after uvicorn's graceful shutdown
    code = runner.process.returncode
    assert code in (0, 128 + signal.SIGINT), f"xvfb-run exited with {code}:\n{runner.log_tail()}"


def test_the_native_window_has_the_conversation_features(tmp_path: Path, new_person: Callable[[str], Page]) -> None:
    """The window's web view, driven over DevTools, next to a person in Chromium on the same server: the Online list,
    the typing line, formatting, reactions, edits and dark mode reach the window as they reach a browser."""
    xvfb_run = required_tool("xvfb-run")
    required_module("webview")
    required_module("PyQt6.QtWebEngineWidgets")
    port, devtools_port = free_port(), free_port()
    env = base_env()
    env.update(
        CHAT_PORT=str(port),
        QTWEBENGINE_DISABLE_SANDBOX="1",
        QTWEBENGINE_REMOTE_DEBUGGING=str(devtools_port),
        NICEGUI_STORAGE_PATH=str(tmp_path / "storage"),
    )
    argv = [xvfb_run, "-a", "-s", "-screen 0 1280x800x24", sys.executable, "main.py", "--native"]
    runner = Child(name="native", argv=argv, env=env, log_dir=tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        with PageDriver(f"http://127.0.0.1:{devtools_port}", base, timeout=90) as window:
            window.wait_for("document.querySelector('input[aria-label=\"User name\"]')", what="the login form")
            window.wait_for("window.did_handshake === true", what="the page's socket")  # the page is live
            window.focus("input[aria-label='User name']")
            window.type("Nat")
            window.wait_for("document.querySelector('input[aria-label=\"User name\"]').value === 'Nat'")
            join_button = "[...document.querySelectorAll('button')].find(b => b.textContent.trim() === 'Join')"
            window.evaluate(f"{join_button}.click()")
            # a window that has just opened on a busy machine is slow to answer its first join
            try:
                window.wait_for(
                    "document.querySelector('textarea[aria-label=\"Message\"]')", timeout=45, what="the chat"
                )
            except AssertionError as exc:  # say what the window shows instead
                raise AssertionError(
                    f"{exc}; the window shows: {window.evaluate('document.body.innerText')!r}"
                ) from exc

            bo = new_person(base)
            bo.goto("/")
            bo.get_by_label("User name").fill("Bo")
            bo.get_by_role("button", name="Join").click()
            expect(message_box(bo)).to_be_visible()

            # Bo is online for the window, and Bo's typing shows there
            window.wait_for(
                "[...document.querySelectorAll('ul[aria-label=\"Online\"] li')]"
                ".some(li => li.textContent.trim() === 'Bo')",
                what="Bo in the window's Online list",
            )
            message_box(bo).press_sequentially("hi", delay=50)
            window.wait_for("document.querySelector('.sc-typing')?.textContent === 'Bo is typing…'", what="typing")

            window.focus("textarea[aria-label='Message']")
            window.type("**bold** and https://example.com")
            window.press("Enter")
            window.wait_for("document.querySelector('.sc-msg .sc-text strong')?.textContent === 'bold'")
            rel = window.evaluate("document.querySelector('.sc-msg .sc-text a')?.getAttribute('rel')")
            assert rel == "noopener noreferrer nofollow"
            expect(bo.locator(".sc-msg strong", has_text="bold")).to_be_visible()

            # Bo's reaction reaches the window
            bo.get_by_role("button", name="Add reaction").first.click()
            bo.get_by_role("button", name="👍", exact=True).click()
            window.wait_for("!!document.querySelector('.sc-reaction[aria-label=\"👍 1\"]')", what="Bo's reaction")

            # the window's edit reaches Bo
            window.click(".sc-actions-btn[aria-label='Message actions']")
            window.wait_for("!!document.querySelector('.sc-menu-list')")
            window.evaluate(
                "[...document.querySelectorAll('.sc-menu-list button')].find(b => b.textContent.trim() === 'Edit')"
                ".click()"
            )
            window.wait_for("document.querySelector('textarea[aria-label=\"Message\"]').value.includes('bold')")
            window.evaluate("document.querySelector('textarea[aria-label=\"Message\"]').select()")
            window.type("changed in the window")
            window.press("Enter")
            expect(bo.locator(".sc-msg", has_text="changed in the window").locator(".sc-edited")).to_have_text(
                "(edited)"
            )

            # dark mode toggles in the window as in a browser
            window.click("button[aria-label='Dark mode']")
            window.wait_for("document.body.classList.contains('body--dark')", what="dark mode")

        # Ctrl-C for the app: it closes its window and ends
        main = next(
            p for p in marked_pids(runner.marker) if cmdline_of(p).strip() == f"{sys.executable} main.py --native"
        )
        os.kill(main, signal.SIGINT)
        wait_until(lambda: not runner.alive(), timeout=30, what="the native app to exit")
    finally:
        runner.stop(signal.SIGTERM, grace=5, check=False)
