"""The heartbeat and reconnect window main.py gives NiceGUI, Engine.IO and uvicorn (what idle tabs cost).

The library checks fail when NiceGUI or uvicorn change how these arguments reach them: then the figures in
docs/benchmarks.md ("Idle tabs in steady state") no longer describe what main.py does.
"""

from __future__ import annotations

import inspect

import pytest
import uvicorn
from nicegui import nicegui as nicegui_app
from nicegui import ui_run

from chat.settings import Settings, SettingsError
from main import run_options


def test_a_dropped_tab_has_30_seconds_to_come_back_and_uvicorn_does_not_ping_on_top_of_engine_io() -> None:
    options = run_options(Settings(), storage_secret="s" * 32)
    assert options["reconnect_timeout"] == 30.0
    assert options["ws_ping_interval"] is None


def test_the_reconnect_window_is_a_setting() -> None:
    settings = Settings.from_env({"CHAT_RECONNECT_SECONDS": "10"})
    assert run_options(settings, storage_secret="s" * 32)["reconnect_timeout"] == 10.0
    with pytest.raises(SettingsError, match="CHAT_RECONNECT_SECONDS"):
        Settings.from_env({"CHAT_RECONNECT_SECONDS": "0"})


def test_nicegui_derives_the_engine_io_heartbeat_from_the_reconnect_window() -> None:
    startup = inspect.getsource(nicegui_app._startup)
    assert "sio.eio.ping_interval = max(app.config.reconnect_timeout * 0.8, 4)" in startup
    assert "sio.eio.ping_timeout = max(app.config.reconnect_timeout * 0.4, 2)" in startup


def test_ui_run_hands_uvicorn_what_it_does_not_know_and_uvicorn_takes_no_ping() -> None:
    assert "**kwargs," in inspect.getsource(ui_run.run)
    assert uvicorn.Config(app=None, ws_ping_interval=None).ws_ping_interval is None
