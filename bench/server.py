"""The app wired exactly like main.py, plus a bench-only login route and the page of one alternative way.

python -m bench.server --way product|elements|refreshable|redis-per-client|floor   (settings from CHAT_*)
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import gc
import io
import pstats
import sys
import sysconfig
import time
import tracemalloc
from pathlib import Path
from typing import Any

from fastapi.responses import JSONResponse, PlainTextResponse
from nicegui import app, outbox

from chat.cookies import SessionCookies
from chat.logs import configure as configure_logging
from chat.runtime import Runtime
from chat.settings import Settings, SettingsError
from main import build, serve

from . import alternatives
from .serverproc import LIBRARY_DEFAULTS, REPO

_STDLIB = Path(sysconfig.get_paths()["stdlib"])


def _install_login(runtime: Runtime) -> None:
    """Sign the client in with the page's cookie, as Join does, without driving the form over the socket."""
    cookies = SessionCookies(secret=runtime.storage_secret, max_age=runtime.settings.session_ttl_seconds)

    @app.get("/bench/login")
    async def login(name: str) -> JSONResponse:
        session = await runtime.service.register(name)
        response = JSONResponse({"name": session.name})
        cookies.set(response, session, secure=False)
        return response


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


def _where(frame: tracemalloc.Frame) -> str:
    """A source line as a short path: inside the package for libraries, inside the repository for ours."""
    path = Path(frame.filename)
    parts = path.parts
    if "site-packages" in parts:
        path = Path(*parts[parts.index("site-packages") + 1 :])
    elif path.is_relative_to(REPO):
        path = path.relative_to(REPO)
    elif path.is_relative_to(_STDLIB):
        path = path.relative_to(_STDLIB)
    return f"{path}:{frame.lineno}"


def _install_memory_probe() -> None:
    """With PYTHONTRACEMALLOC set: the Python allocations made since a mark, by the line that made them.

    Tracing slows every allocation, so a run that traces is used only for this attribution, never for timings.
    """
    marks: list[tracemalloc.Snapshot] = []

    def snapshot() -> tracemalloc.Snapshot:
        return tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])

    @app.post("/bench/memory/mark")
    def mark() -> dict[str, bool]:
        if tracemalloc.is_tracing():
            marks[:] = [snapshot()]
        return {"tracing": tracemalloc.is_tracing()}

    @app.get("/bench/memory")
    def grown(top: int = 100) -> dict[str, object]:
        if not tracemalloc.is_tracing() or not marks:
            return {"tracing": False}
        stats = snapshot().compare_to(marks[0], "lineno")
        return {
            "tracing": True,
            "total_bytes": sum(s.size_diff for s in stats),
            "lines": [[_where(s.traceback[0]), s.size_diff, s.count_diff] for s in stats[:top]],
        }


def _install_profiler() -> None:
    """cProfile of the event loop's thread between a start and a stop, to say where a burst of messages costs.

    cProfile follows only the thread that enables it; the handlers run on the event loop's thread, which does all
    the fan-out (sockets, emits, views). The storage threads' boto3 calls are not in it. Profiling slows what it
    follows: the figures of a run that profiles come from before the start.
    """
    running: list[cProfile.Profile] = []

    @app.post("/bench/profile/start")
    async def start() -> dict[str, bool]:
        profiler = cProfile.Profile()
        running[:] = [profiler]
        profiler.enable()
        return {"profiling": True}

    @app.post("/bench/profile/stop")
    async def stop(top: int = 40) -> PlainTextResponse:
        if not running:
            return PlainTextResponse("not profiling\n", status_code=409)
        profiler = running.pop()
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        for order in ("tottime", "cumulative"):
            print(f"=== the {top} largest by {order} ===", file=out)
            stats.sort_stats(order).print_stats(top)
        return PlainTextResponse(out.getvalue().replace(str(REPO) + "/", ""))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="sinchchat with one bench-only way of pushing messages")
    parser.add_argument("--way", choices=alternatives.WAYS, default="product")
    parser.add_argument(
        "--library-default",
        action="append",
        choices=LIBRARY_DEFAULTS,
        default=[],
        help="undo one of main.py's settings, to measure what it saves",
    )
    arguments = parser.parse_args()
    configure_logging()
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        sys.exit(f"bench server: {exc}")
    runtime = build(settings, program="bench server")
    _install_login(runtime)
    _install_gc_probe()
    _install_memory_probe()
    _install_profiler()
    alternatives.install(runtime, arguments.way)
    if "outbox-wake" in arguments.library_default:
        vars(outbox)["asyncio"] = asyncio  # NiceGUI's own: every tab's outbox wakes once a second
    options: dict[str, Any] = {}
    if "uvicorn-ping" in arguments.library_default:
        options["ws_ping_interval"] = 20.0  # uvicorn's default
    if "wsproto" in arguments.library_default:
        options["websocket"] = "wsproto"  # NiceGUI's choice of uvicorn's WebSocket protocol
    serve(runtime, **options)
