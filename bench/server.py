"""The app wired exactly like main.py, plus a bench-only login route and the page of one alternative way.

python -m bench.server --way product|elements|refreshable|redis-per-client|floor   (settings from CHAT_*)
"""

from __future__ import annotations

import argparse
import sys

from nicegui import app, ui

from chat.errors import ChatError
from chat.logs import configure as configure_logging
from chat.runtime import Runtime
from chat.settings import Settings, SettingsError
from components.pages import install

from . import alternatives

# the key components/pages.py keeps the browser's session under in app.storage.user
SESSION_KEY = "session"


def _install_login(runtime: Runtime) -> None:
    """Log the cookie's browser in, the way the Join button does, without driving the form over the socket."""

    @app.get("/bench/login")
    async def login(name: str) -> dict[str, str]:
        session = await runtime.service.register(name)
        app.storage.user[SESSION_KEY] = {"token": session.token, "name": session.name}
        return {"name": session.name}


if __name__ in {"__main__", "__mp_main__"}:
    parser = argparse.ArgumentParser(description="sinchchat with one bench-only way of pushing messages")
    parser.add_argument("--way", choices=alternatives.WAYS, default="product")
    arguments = parser.parse_args()
    configure_logging()
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        sys.exit(f"bench server: {exc}")
    runtime = Runtime(settings)
    try:
        runtime.prepare()
    except ChatError as exc:
        sys.exit(f"bench server: {exc}")
    install(runtime)
    _install_login(runtime)
    alternatives.install(runtime, arguments.way)
    ui.run(
        title="sinchchat",
        host=settings.host,
        port=settings.port,
        native=False,
        storage_secret=runtime.storage_secret,
        reload=False,
        show=False,
        favicon="💬",
        fastapi_docs={"title": "sinchchat API", "summary": "Join, read and post to the conversation.", "version": "1"},
    )
