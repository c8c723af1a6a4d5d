"""Idle: what open tabs cost a process when nobody writes, in steady state, and where that CPU goes.

Per way (the floor's bare page and the product's room page): a fresh server, one warm-up tab, N tabs opened, a
settle time (the connect storm's after-effects: the last tabs' first rounds, the garbage collector), then the
server's CPU over a long window (several Engine.IO ping intervals, so every socket's heartbeat is in it the same
number of times), then py-spy attached for another window of the same length: which code the CPU runs, by area.
"""

from __future__ import annotations

import asyncio
import collections
import math
import multiprocessing
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .alternatives import PATHS
from .fanout import log
from .pyspy import stacks
from .serverproc import Backends, ServerProcess
from .tab import TabSpec
from .workers import OpenOrder, WorkerHandle, close_clients

_TABS_PER_PROCESS_MIN = 50


@dataclass(frozen=True, slots=True)
class Variant:
    """One server to measure: a way, and what of main.py's idle savings it undoes (bench/server.py)."""

    label: str
    way: str
    env: dict[str, str] = field(default_factory=dict)
    undo: tuple[str, ...] = ()

    @property
    def args(self) -> tuple[str, ...]:
        return tuple(arg for name in self.undo for arg in ("--library-default", name))


@dataclass(frozen=True, slots=True)
class IdleOptions:
    tabs: int
    settle: float  # seconds after the last tab connected, before measuring
    window: float  # seconds measured (and profiled after, when asked)
    profile: bool
    client_procs: int
    concurrency: int  # page loads in flight per client process


# the floor's page and the product's, both as main.py serves them
SERVED = (Variant("(d) floor: raw room emit", "floor"), Variant("product", "product"))
# the product, one saving at a time, from the libraries' defaults to main.py's settings: what each one saves is the
# difference between two neighbours, measured the same way (--idle-ablation adds these before the product)
_DEFAULTS = ("outbox-wake", "uvicorn-ping", "wsproto")
ABLATION = (
    Variant("product, libraries' defaults", "product", {"CHAT_RECONNECT_SECONDS": "3"}, _DEFAULTS),
    Variant("+ Engine.IO heartbeat 24 s (CHAT_RECONNECT_SECONDS=30)", "product", undo=_DEFAULTS),
    Variant("+ no uvicorn WebSocket ping", "product", undo=("outbox-wake", "wsproto")),
    Variant("+ outboxes that sleep until they have something to send", "product", undo=("wsproto",)),
)

# the last step: what the product adds to the ablation's last row
_PRODUCT_STEP = "+ uvicorn's websockets-sansio instead of NiceGUI's wsproto: the product"

# a sample goes to the first area (outermost frame first) whose marker one of its frames holds: the library
# entry points that an idle process runs, each a timer or a read of its own
AREAS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Engine.IO heartbeat (ping/pong per socket)", ("_send_ping", "engineio/async_socket.py:schedule_ping")),
    ("NiceGUI outbox loop (per tab)", ("outbox.py:loop",)),
    ("uvicorn WebSocket keep-alive ping", ("keepalive_ping", "send_keepalive_ping", "wsproto_impl.py:keepalive")),
    ("Socket.IO / Engine.IO packets (receive, decode, dispatch)", ("engineio/", "socketio/")),
    ("uvicorn / WebSocket protocol (socket reads and writes)", ("uvicorn/", "wsproto/", "websockets/", "h11/")),
    ("sinchchat periodic work (presence, catch-up, read markers)", ("chat/", "components/")),
    ("NiceGUI (other)", ("nicegui/",)),
    ("redis-py", ("redis/",)),
    ("garbage collector", ("gc_collect", "<GC>")),
    ("asyncio event loop itself", ("asyncio/", "selectors.py")),
)


def area_of(frames: list[str]) -> str:
    """The area of one sampled stack (outermost frame first); "other" when no marker matches."""
    for area, markers in AREAS:
        if any(marker in frame for frame in frames for marker in markers):
            return area
    return "other"


def attribute(raw: str) -> dict[str, Any]:
    """py-spy's raw (collapsed) stacks: samples per area and per innermost function."""
    areas: collections.Counter[str] = collections.Counter()
    functions: collections.Counter[str] = collections.Counter()
    total = 0
    for frames, count in stacks(raw):
        total += count
        areas[area_of(frames)] += count
        functions[frames[-1]] += count
    return {"samples": total, "areas": dict(areas.most_common()), "top": functions.most_common(15)}


async def _open(base_url: str, way: str, tabs: int, procs: int, concurrency: int) -> tuple[list[WorkerHandle], int]:
    product = way == "product"
    spec = TabSpec(base_url=base_url, path=PATHS[way], login=product, join=product)

    context = multiprocessing.get_context("spawn")
    count = min(procs, max(1, math.ceil(tabs / _TABS_PER_PROCESS_MIN)))
    workers = [WorkerHandle(context) for _ in range(count)]
    nonce = secrets.token_hex(3)
    names = [f"i{nonce}_{i}" for i in range(tabs)]
    opened = await asyncio.gather(
        *(
            w.call(
                "open",
                OpenOrder(spec=spec, names=names[i::count], concurrency=concurrency, timeout=60),
                wait=60 + tabs * 0.2,
            )
            for i, w in enumerate(workers)
        )
    )
    return workers, sum(a["ok"] for a in opened)


def _spy(pid: int, seconds: float, raw: Path) -> str | None:
    """py-spy record on the server for ``seconds``; None when it worked, else why not."""
    uvx = shutil.which("uvx")
    if uvx is None:
        return "uvx is not available"
    command = [uvx, "py-spy", "record", "--rate", "100", "--format", "raw", "--nonblocking", "--threads"]
    command += ["--output", str(raw), "--pid", str(pid), "--duration", str(max(1, int(seconds)))]
    try:
        subprocess.run(command, check=True, timeout=seconds + 120, capture_output=True)
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)[:200]
    return None


async def _point(variant: Variant, backends: Backends, work_dir: Path, o: IdleOptions) -> dict[str, Any]:
    way, tabs, settle, window = variant.way, o.tabs, o.settle, o.window
    label = f"idle-{secrets.token_hex(2)}-{way}-{tabs}"
    server = ServerProcess(
        way=way,
        backends=backends,
        log_path=work_dir / f"server-{label}.log",
        storage_path=work_dir / f"st-{label}",
        settings=variant.env,
        args=variant.args,
    )
    workers: list[WorkerHandle] = []
    result: dict[str, Any] = {"label": variant.label, "way": way, "tabs": tabs, "settle_seconds": settle}
    result["window_seconds"] = window
    try:
        await asyncio.to_thread(server.wait_ready)
        await asyncio.sleep(1.0)
        cpu0, t0 = server.cpu(), time.monotonic()
        await asyncio.sleep(min(window, 10.0))
        result["empty_cpu_cores"] = (server.cpu() - cpu0) / (time.monotonic() - t0)
        started = time.monotonic()
        workers, result["connected"] = await _open(server.base_url, way, tabs, o.client_procs, o.concurrency)
        result["connect_seconds"] = time.monotonic() - started
        log(f"{label}: {result['connected']} tabs in {result['connect_seconds']:.1f} s; settling {settle:.0f} s")
        await asyncio.sleep(settle)
        cpu0, t0 = server.cpu(), time.monotonic()
        await asyncio.sleep(window)
        cpu1, t1 = server.cpu(), time.monotonic()
        busy = (cpu1 - cpu0) / (t1 - t0)
        result["cpu_cores"] = busy
        result["cpu_per_1000_tabs"] = (busy - result["empty_cpu_cores"]) * 1000 / max(1, result["connected"])
        result["rss_kib_per_tab"] = server.rss() / 1024 / max(1, result["connected"])
        live = await asyncio.gather(*(w.call("count", wait=30) for w in workers))
        result["live_after"] = sum(a["live"] for a in live)
        log(f"{label}: idle {100 * busy:.1f}% of a core ({100 * result['cpu_per_1000_tabs']:.1f}% per 1,000 tabs)")
        if o.profile and not variant.undo and not variant.env:
            raw = work_dir / f"{label}.pyspy"
            problem = await asyncio.to_thread(_spy, server.pid, window, raw)
            if problem is None:
                result["profile"] = attribute(raw.read_text())
            else:
                result["profile_error"] = problem
    finally:
        await close_clients(None, workers, wait=30)
        await asyncio.to_thread(server.stop)
    return result


def run(
    backends: Backends, work_dir: Path, options: IdleOptions, variants: tuple[Variant, ...] = SERVED
) -> list[dict[str, Any]]:
    """Every variant's idle point, one after the other, each on a fresh server."""
    return [asyncio.run(_point(variant, backends, work_dir, options)) for variant in variants]


def markdown(points: list[dict[str, Any]]) -> str:
    """The idle section of the report: steady-state CPU per 1,000 tabs, and where it goes."""
    if not points:
        return ""
    first = points[0]
    lines = [
        "## Idle tabs in steady state",
        "",
        f"{first['tabs']:,} tabs connected to a fresh server, {first['settle_seconds']:.0f} s to settle, then the "
        f"server's CPU over {first['window_seconds']:.0f} s (minus the same server's CPU with no tab), per 1,000 "
        "tabs; then py-spy (100 samples/s, active samples only) for another window of the same length.",
        "",
        "| way | tabs | connected | idle CPU (% of a core) | per 1,000 tabs | still connected |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for p in points:
        lines.append(
            f"| {p['label']} | {p['tabs']:,} | {p.get('connected', 0):,} | {100 * p.get('cpu_cores', 0):.1f} | "
            f"{100 * p.get('cpu_per_1000_tabs', 0):.1f} | {p.get('live_after', 0):,} |"
        )
    if any(p["label"] == variant.label for p in points for variant in ABLATION):
        lines += ["", "What each saving saves (the difference to the row above, per 1,000 tabs):", ""]
        lines += ["| step | per 1,000 tabs | saved |", "|---|---:|---:|"]
        previous: float | None = None
        for p in (p for p in points if p["way"] == "product"):
            now = 100 * p.get("cpu_per_1000_tabs", 0)
            saved = "" if previous is None else f"{previous - now:.1f}"
            label = _PRODUCT_STEP if p["label"] == SERVED[1].label else p["label"]
            lines.append(f"| {label} | {now:.1f} | {saved} |")
            previous = now
    profiled = [p for p in points if p.get("profile", {}).get("samples")]
    if profiled:
        lines += ["", "Where the idle CPU goes (share of py-spy's active samples):", ""]
        lines.append("| area | " + " | ".join(p["label"] for p in profiled) + " |")
        lines.append("|---|" + "---:|" * len(profiled))
        names = [name for name, _ in AREAS] + ["other"]
        for name in names:
            shares = [100 * p["profile"]["areas"].get(name, 0) / p["profile"]["samples"] for p in profiled]
            if any(share >= 0.5 for share in shares):
                lines.append(f"| {name} | " + " | ".join(f"{s:.0f}%" for s in shares) + " |")
    return "\n".join(lines) + "\n"
