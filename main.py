"""sinchchat: Settings -> backends -> service -> app (API, monitoring, pages) -> ui.run."""

from __future__ import annotations

import argparse
import gc
import os
import sys
from typing import Any

from nicegui import app, core, ui

from chat.cookies import SessionCookies
from chat.errors import ChatError
from chat.logs import configure as configure_logging
from chat.monitoring import build_monitoring_router
from chat.runtime import Runtime
from chat.settings import Settings, SettingsError
from chat.webapp import install_api
from components import error_pages, outbox_wait, page_escape, websocket_protocol
from components.broadcast import Broadcaster
from components.desktop import window_problem
from components.frame import install_styles
from components.pages import chat_page

# after SIGTERM: how long in-flight requests may take before they are cancelled; with the shutdown of the runtime
# after it, a process is gone well within the 10 s that orchestrators give by default before they SIGKILL
GRACEFUL_SHUTDOWN_SECONDS = 5


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="sinchchat: a real-time chat. Every option can also be set by CHAT_*.")
    parser.add_argument("--host", help=f"address to listen on (CHAT_HOST, default {Settings.host})")
    parser.add_argument("--port", type=int, help=f"port to listen on (CHAT_PORT, default {Settings.port})")
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
        settings = Settings.from_env(env)
    except SettingsError as exc:
        sys.exit(f"sinchchat: {exc}")
    # before anything starts: NiceGUI finds out only after the server started, and exits with 0 (see desktop.py)
    if settings.native and (problem := window_problem()):
        sys.exit(f"sinchchat: {problem}")
    return settings


def _tune_garbage_collector() -> None:
    """Keep full collections rare and short in a process that holds every open tab's objects.

    Each connected tab keeps a few hundred long-lived objects (its elements, socket and session). With CPython's
    defaults a full collection comes every few thousand allocations that survive, and at 1,000 tabs it walks over a
    million objects: the event loop stalls for up to 0.8 s and every tab's messages wait. A larger young generation
    lets short-lived garbage die there, and full collections become rare; the middle generation is collected every
    second young collection, which bounds it to about 150,000 objects (0.1-0.2 s while a thousand tabs connect; with
    20 it could grow to a million). Freezing what start-up built (modules, routes, templates) takes it out of every
    later pass. Measured in docs/benchmarks.md (GC pauses); smaller young generations paused more often and longer.
    """
    gc.set_threshold(50_000, 2, 20)
    app.on_startup(gc.freeze)


def mount(runtime: Runtime) -> None:
    """Wire the runtime into NiceGUI's app: start and stop with it, serve the API, monitoring and the chat page."""
    settings = runtime.settings
    metrics = runtime.metrics
    app.on_startup(runtime.start)
    app.on_shutdown(runtime.stop)
    cookies = SessionCookies(secret=runtime.storage_secret, max_age=settings.session_ttl_seconds)
    error_pages.install(app)  # first: the API's handlers answer for /api and hand pages on to these
    policy = install_api(app, service=runtime.service, settings=settings, cookies=cookies, metrics=metrics)
    app.include_router(
        build_monitoring_router(health=runtime.health, metrics=metrics, metrics_public=settings.metrics_public)
    )
    core.sio.eio.cors_allowed_origins = policy.allows_environ  # the websocket's handshake
    outbox_wait.install()  # an idle tab's outbox sleeps instead of waking every second
    install_styles()
    page_escape.install()
    chat_page(
        service=runtime.service,
        broadcaster=Broadcaster(runtime.hub, lobby_id=runtime.service.lobby.id, metrics=metrics),
        cookies=cookies,
        metrics=metrics,
        trusted_proxies=settings.trusted_proxies,
        view_limit=settings.view_max_messages,
    )


def build(settings: Settings, *, program: str) -> Runtime:
    """The runtime for ``settings`` with its tables ready and mounted on the app; exits with a message if not."""
    try:
        runtime = Runtime(settings)  # SettingsError: embedded mode without its packages
        runtime.prepare()
    except (ChatError, SettingsError) as exc:
        sys.exit(f"{program}: {exc}")
    mount(runtime)
    return runtime


def run_options(settings: Settings, *, storage_secret: str) -> dict[str, Any]:
    """ui.run's arguments for these settings."""
    return dict(
        title="sinchchat",
        host=settings.host,
        port=settings.port,
        native=settings.native,
        storage_secret=storage_secret,
        reload=False,
        show=False,
        favicon="💬",
        # Quasar's words (its en-US pack) without Quasar's lang attribute: components/frame.py sets <html lang="en">
        language=None,
        dark=None,  # follow the system's light or dark; the reader's choice overrides it (components/frame.py)
        # uvicorn would rewrite the client's address and scheme from X-Forwarded-* for any peer on 127.0.0.1 (its
        # default); chat.proxies alone decides whom to believe (CHAT_TRUSTED_PROXIES), from the real peer
        proxy_headers=False,
        # permessage-deflate keeps about 300 KiB of zlib state per open socket (measured in bench/, memory phase)
        # to shrink frames that are mostly one short chat message; passed on to uvicorn
        ws_per_message_deflate=False,
        # on SIGTERM uvicorn stops listening and closes every websocket with 1012 ("service restart"), so each
        # browser reconnects at once, through the load balancer, to another process; in-flight API requests get
        # this long to finish, and UI posts are awaited by NiceGUI's shutdown (see ChatView._post)
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        # how long a tab whose connection dropped may take to come back to its page (a network blip, a laptop lid)
        # before its client is deleted and the tab reloads; NiceGUI derives Engine.IO's heartbeat from it: a ping
        # every 0.8x (24 s by default, Socket.IO's own default is 25 s) answered within 0.4x (12 s). Each ping is a
        # write and a read on every socket: at NiceGUI's 3 s default they were the largest part of what idle tabs
        # cost. The price: a tab whose network vanished without closing its socket is noticed up to 36 s later
        # (a closed tab or a dead process is noticed at once, by the socket closing). See docs/scaling.md.
        reconnect_timeout=settings.reconnect_seconds,
        # uvicorn's own WebSocket ping (every 20 s by default) repeats what Engine.IO's heartbeat already checks
        ws_ping_interval=None,
        # uvicorn's records go through our handler (text or JSON) instead of uvicorn's own
        log_config=None,
    )


def serve(runtime: Runtime, *, websocket: str = websocket_protocol.DEFAULT, **overrides: Any) -> None:
    """Run the web server (or the native window) for an installed runtime until it is stopped; ``websocket`` is
    uvicorn's WebSocket protocol and ``overrides`` replace ui.run's arguments (the benchmark measures what some of
    them save)."""
    _tune_garbage_collector()
    websocket_protocol.install(websocket)  # uvicorn's websockets-sansio, not NiceGUI's wsproto: C framing
    # the native extra installs pywebview with Qt; without this pywebview tries GTK first and logs an ERROR
    app.native.start_args["gui"] = "qt"
    # readiness turns 503 the moment the signal arrives, before uvicorn closes its listener
    app.on_startup(runtime.health.drain_on_signals)
    ui.run(**(run_options(runtime.settings, storage_secret=runtime.storage_secret) | overrides))


# Only "__main__": the native window runs in a spawned process that imports this file as "__mp_main__", and it
# must not build a second runtime (embedded servers, DynamoDB tables, a Redis client). reload=False, so no
# uvicorn worker process needs it either.
if __name__ == "__main__":
    settings = _settings()
    configure_logging(log_format=settings.log_format)
    runtime = build(settings, program="sinchchat")
    try:
        serve(runtime)
    except KeyboardInterrupt:
        # Ctrl-C: uvicorn has shut down gracefully and raised SIGINT again; end without a traceback
        sys.exit(130)
