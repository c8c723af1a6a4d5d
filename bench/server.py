"""The app wired exactly like main.py, plus a bench-only login route and the page of one alternative way.

python -m bench.server --way product|elements|refreshable|redis-per-client|floor   (settings from CHAT_*)
"""

from __future__ import annotations

import argparse
import collections
import gc
import sys
import time

from nicegui import app, ui

from chat.errors import ChatError
from chat.logs import configure as configure_logging
from chat.runtime import Runtime
from chat.settings import Settings, SettingsError
from components.pages import install
from main import API_DOCS

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


def _install_gc_probe() -> None:
    """Record garbage-collector pauses (monotonic end time, generation, seconds), to explain latency tails.

    Only observes: the product's wiring is untouched. Pauses under a millisecond are counted but not listed.
    """
    pauses: collections.deque[tuple[float, int, float]] = collections.deque(maxlen=5000)
    counts = [0, 0, 0]
    started = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        seconds = time.perf_counter() - started[0]
        counts[info["generation"]] += 1
        if seconds >= 0.001:
            pauses.append((time.monotonic(), info["generation"], seconds))

    gc.callbacks.append(on_gc)

    @app.get("/bench/gc")
    def gc_pauses(objects: bool = False) -> dict[str, object]:
        # counting the objects a full collection has to visit is itself a pass over the heap: only on request
        return {"counts": counts, "pauses": list(pauses), "objects": len(gc.get_objects()) if objects else None}


if __name__ == "__main__":
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
    _install_gc_probe()
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
        fastapi_docs=API_DOCS,
    )
