"""sinchchat: Settings -> backends -> service -> pages -> ui.run."""

from __future__ import annotations

import argparse
import os
import sys

from nicegui import ui

from chat.errors import ChatError
from chat.logs import configure as configure_logging
from chat.runtime import Runtime
from chat.settings import Settings, SettingsError
from components.pages import install


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="sinchchat: a real-time chat. Every option can also be set by CHAT_*.")
    parser.add_argument("--host", help="address to listen on (CHAT_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (CHAT_PORT, default 8080)")
    parser.add_argument("--native", action="store_true", default=None, help="open a desktop window (CHAT_NATIVE)")
    known, _ = parser.parse_known_args()
    return known


def _settings() -> Settings:
    arguments = _arguments()
    env = dict(os.environ)
    for name in ("host", "port", "native"):
        value = getattr(arguments, name)
        if value is not None:
            env[f"CHAT_{name.upper()}"] = str(value)
    try:
        return Settings.from_env(env)
    except SettingsError as exc:
        sys.exit(f"sinchchat: {exc}")


if __name__ in {"__main__", "__mp_main__"}:
    configure_logging()
    settings = _settings()
    runtime = Runtime(settings)
    try:
        runtime.prepare()
    except ChatError as exc:
        sys.exit(f"sinchchat: {exc}")
    install(runtime)
    ui.run(
        title="sinchchat",
        host=settings.host,
        port=settings.port,
        native=settings.native,
        storage_secret=runtime.storage_secret,
        reload=False,
        show=False,
        favicon="💬",
        fastapi_docs={"title": "sinchchat API", "summary": "Join, read and post to the conversation.", "version": "1"},
    )
