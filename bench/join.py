"""The join storm: many tabs open the room page at once (a process restarted, a link shared), the product against
NiceGUI's bare page (the floor).

For each way, a freshly started server and one warm-up tab; then the people (product: logged in beforehand, as
returning readers with a cookie) open ``tabs`` tabs, ``concurrency`` in flight in total over the client processes.
Measured: the time until every tab is open, the errors, and per tab the seconds from its page request to the page
read, to the socket connected and (product) to the room joined. Page-ready is what a reader waits for before the
page works: for the product the page (which carries the history), the socket and the join; for the floor the page
and the socket. Server CPU seconds per tab opened; with ``profile_to``, py-spy on the product's server during its
storm, the samples attributed to the parts of a page build.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import multiprocessing
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from . import procstat
from .alternatives import PATHS
from .fanout import log
from .pyspy import stacks
from .serverproc import REPO, Backends, ServerProcess
from .stats import summary
from .tab import Tab, TabSpec
from .workers import OpenOrder, WorkerHandle, close_clients
from .writepath import summarize_profile

TARGET_RATIO = 1.3  # the product's storm at most this many times the floor's
TARGET_READY_P99 = 2.0  # seconds from a tab's page request until it works
_TIMEOUT = 60.0
_WAYS = ("floor", "product")

# what a sample of the product's server was doing: first the product's storage reads, by the call anywhere in the
# stack that made them (the storage threads' botocore work included); then the innermost frame of a known part
_OPERATIONS: list[tuple[str, tuple[str, ...]]] = [
    ("session read (cookie -> session)", ("resume (chat/service.py", "chat/storage/users.py")),
    (
        "room, room list and unread counts",
        ("room_list (components/", "room (chat/service.py", "chat/storage/rooms.py", "of_reader", "count_after"),
    ),
    ("history read (first page, catch-up)", ("history (chat/", "since (chat/", "chat/storage/messages.py")),
    ("read marker", ("mark_read", "chat/storage/markers.py")),
]
_PARTS: list[tuple[str, tuple[str, ...]]] = [
    ("gzip", ("gzip", "zlib")),
    ("NiceGUI response (template, elements to JSON)", ("build_response", "jinja2/", "_to_dict", "json/", "orjson")),
    ("NiceGUI element creation", ("nicegui/element", "nicegui/props", "nicegui/observables", "nicegui/binding")),
    ("Socket.IO / Engine.IO", ("socketio/", "engineio/")),
    ("uvicorn WebSocket protocol", ("wsproto/", "websockets/")),
    ("HTTP (uvicorn, starlette, fastapi, middleware)", ("uvicorn/", "starlette/", "fastapi/", "h11/", "httptools")),
    ("other storage (botocore, urllib3)", ("botocore/", "boto3/", "urllib3/", "http/client")),
    ("redis-py", ("redis/",)),
    ("our view setup (components/)", ("components/",)),
    ("chat/ (presence, hub, service)", ("chat/",)),
    ("NiceGUI page and client (routing, outbox, events)", ("nicegui/",)),
    ("asyncio event loop, threads", ("asyncio/", "uvloop", "selectors", "concurrent/", "threading")),
]


def _part(frames: list[str]) -> str:
    stack = ";".join(frames)
    for name, markers in _OPERATIONS:
        if any(m in stack for m in markers):
            return name
    for frame in reversed(frames):
        for name, markers in _PARTS:
            if any(m in frame for m in markers):
                return name
    return "other"


def attribute(raw: str) -> list[tuple[str, int]]:
    """py-spy's raw (collapsed) stacks as samples per part of a page build, largest first."""
    parts: collections.Counter[str] = collections.Counter()
    for frames, count in stacks(raw):
        parts[_part(frames)] += count
    return parts.most_common()


@contextlib.contextmanager
def _py_spy(pid: int, raw: Path) -> Any:
    """py-spy record on ``pid`` while the block runs (stopped with SIGINT, which makes it write its samples)."""
    uvx = shutil.which("uvx")
    if uvx is None:
        yield None
        return
    command = [uvx, "py-spy", "record", "--gil", "--nonblocking", "--rate", "100", "--format", "raw"]
    spy = subprocess.Popen([*command, "--output", str(raw), "--pid", str(pid)], stdout=subprocess.DEVNULL)
    time.sleep(2.0)  # uvx starts it and it attaches
    try:
        yield spy
    finally:
        spy.send_signal(signal.SIGINT)
        try:
            spy.wait(timeout=60)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait()


async def _storm(way: str, backends: Backends, work_dir: Path, **options: Any) -> dict[str, Any]:
    tabs, concurrency, client_procs = options["tabs"], options["concurrency"], options["client_procs"]
    profile_to: Path | None = options.get("profile_to") if way == "product" else None
    product = way == "product"
    server = ServerProcess(
        way=way, backends=backends, log_path=work_dir / f"server-join-{way}.log", storage_path=work_dir / f"join-{way}"
    )
    nonce = secrets.token_hex(2)
    result: dict[str, Any] = {"way": way, "tabs": tabs, "concurrency": concurrency}
    workers: list[WorkerHandle] = []
    try:
        await asyncio.to_thread(server.wait_ready)
        spec = TabSpec(base_url=server.base_url, path=PATHS[way], login=product, join=product)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=_TIMEOUT, trust_env=False) as http:
            warm = Tab(name=f"jw{nonce}", spec=spec)
            await warm.open(http, wait=_TIMEOUT)  # the first page pays for imports and caches, not for the storm
            await warm.close()
        count = max(1, min(client_procs, math.ceil(tabs / 50), concurrency))
        context = multiprocessing.get_context("spawn")
        workers = [WorkerHandle(context) for _ in range(count)]
        names = [f"j{nonce}_{i}" for i in range(tabs)]
        orders = [OpenOrder(spec=spec, names=names[i::count], concurrency=8, timeout=_TIMEOUT) for i in range(count)]
        await asyncio.gather(*(w.call("sign_in", o, wait=600) for w, o in zip(workers, orders, strict=True)))
        in_flight = [concurrency // count + (1 if i < concurrency % count else 0) for i in range(count)]
        await asyncio.sleep(2.0)  # the sign-ins' work is over
        rss0 = server.rss()
        raw = work_dir / "join.pyspy"
        with _py_spy(server.pid, raw) if profile_to else contextlib.nullcontext():
            dynamo = procstat.service_pid("DynamoDBLocal")
            dynamo0 = procstat.cpu_seconds(dynamo) if dynamo else 0.0
            system0 = procstat.SystemCpu.read()
            cpu0, t0 = server.cpu(), time.monotonic()
            answers = await asyncio.gather(
                *(w.call("storm", (n, _TIMEOUT), wait=900) for w, n in zip(workers, in_flight, strict=True))
            )
            cpu1, t1 = server.cpu(), time.monotonic()
            dynamo_ms = 1000 * (procstat.cpu_seconds(dynamo) - dynamo0) / max(1, tabs) if dynamo else None
            machine = procstat.SystemCpu.read().busy_seconds_since(system0) / (t1 - t0)
        times = [t for a in answers for t in a["times"]]
        ready = [t[2] if product else t[1] for t in times]
        result.update(
            seconds=t1 - t0,
            opened=sum(a["ok"] for a in answers),
            errors=sum(a["failed"] for a in answers),
            error_samples=[e for a in answers for e in a["errors"]][:5],
            history_in_page=sum(1 for t in times if t[3]),
            page=summary([t[0] for t in times]),
            connected=summary([t[1] for t in times]),
            joined=summary([t[2] for t in times if t[2] is not None]) if product else None,
            ready=summary([r for r in ready if r is not None]),
            cpu_ms_per_tab=1000 * (cpu1 - cpu0) / max(1, tabs),
            server_cores=(cpu1 - cpu0) / (t1 - t0),
            dynamodb_local_ms_per_tab=dynamo_ms,
            machine_busy=machine,
            rss_kib_per_tab=(server.rss() - rss0) / 1024 / max(1, tabs),
        )
        if profile_to:
            result["raw_profile"] = str(raw)
        log(
            f"join: {way}: {result['opened']} of {tabs} tabs open in {result['seconds']:.1f} s, {result['errors']} "
            f"errors, ready p99 {result['ready']['p99']} s, {result['cpu_ms_per_tab']:.1f} ms of server CPU per tab"
        )
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"[:300]
        log(f"join: {way}: {result['error']}")
    finally:
        await close_clients(None, workers, wait=60)
        await asyncio.to_thread(server.stop)
    return result


def run(backends: Backends, work_dir: Path, **options: Any) -> dict[str, Any]:
    """The floor's storm, then the product's; ``options``: tabs, concurrency, client_procs, profile_to."""
    log(f"join: {options['tabs']} tabs open the room page, {options['concurrency']} in flight")
    points = [asyncio.run(_storm(way, backends, work_dir, **options)) for way in _WAYS]
    floor, product = points
    raw, profile_to = Path(product.pop("raw_profile", "-")), options.get("profile_to")
    if profile_to is not None and raw.is_file():
        text = raw.read_text()
        product["profile_parts"] = attribute(text)
        header = f"Join storm profile: py-spy record --gil --rate 100 on the product server, {options['tabs']} tabs"
        profile_to.parent.mkdir(parents=True, exist_ok=True)
        profile_to.write_text(summarize_profile(text, header=header))
        product["profile"] = str(profile_to.relative_to(REPO) if profile_to.is_relative_to(REPO) else profile_to)
    ratio = None
    if not floor.get("error") and not product.get("error") and floor.get("seconds"):
        ratio = product["seconds"] / floor["seconds"]
    return {"tabs": options["tabs"], "concurrency": options["concurrency"], "points": points, "ratio": ratio}


def targets(result: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """The join storm's target rows: (target, measured, met)."""
    floor, product = result["points"]
    tabs, ratio = result["tabs"], result.get("ratio")
    p99 = (product.get("ready") or {}).get("p99")
    errors = product.get("errors")
    return [
        (
            f"join storm of {tabs} tabs ≤ {TARGET_RATIO} x the floor page's, 0 errors",
            f"{product.get('seconds', 0):.1f} s vs {floor.get('seconds', 0):.1f} s = "
            + ("-" if ratio is None else f"{ratio:.2f}x")
            + f", {errors} errors",
            None if ratio is None else ratio <= TARGET_RATIO and errors == 0,
        ),
        (
            f"join storm p99 page-ready ≤ {TARGET_READY_P99:g} s",
            "-" if p99 is None else f"{p99:.2f} s",
            None if p99 is None else p99 <= TARGET_READY_P99,
        ),
    ]


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _s(stats: dict[str, Any] | None) -> str:
    if not stats or not stats.get("n"):
        return "- | - | -"
    return f"{stats['p50']:.2f} | {stats['p99']:.2f} | {stats['max']:.2f}"


def page(result: dict[str, Any], command: str) -> str:
    """The join storm alone, as docs/benchmarks-join.md shows it."""
    lines = markdown(result)
    lines[0] = "# Join storm: many tabs open the room page at once"
    return "\n".join([*lines[:2], f"Command: `{command}`.", "", *lines[2:]]) + "\n"


def markdown(result: dict[str, Any]) -> list[str]:
    """The join storm's section of docs/benchmarks.md."""
    lines = [
        "## Join storm",
        "",
        f"{result['tabs']} tabs open the room page, {result['concurrency']} in flight in total, on a freshly started "
        "server after one warm-up tab (`bench/join.py`). Product: the lobby, each person logged in beforehand (a "
        "returning reader with a cookie); page-ready = the page (which carries the first history page), the socket "
        "connected and the room joined. Floor: NiceGUI's bare page (`/bench/floor`); page-ready = page and socket. "
        "Times in seconds from each tab's page request; CPU is the server's over the storm, per tab.",
        "",
        "| way | tabs open | errors | storm (s) | history in page | page p50 / p99 / max | socket p50 / p99 / max "
        "| joined p50 / p99 / max | page-ready p50 / p99 / max | server CPU per tab (ms) | server busy (cores) "
        "| DynamoDB Local CPU per tab (ms) | machine busy (cores) | RSS per tab (KiB) |",
        "|---|---:|---:|---:|---:|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for p in result["points"]:
        if p.get("error"):
            lines.append(f"| {p['way']} | failed: {p['error']} |||||||||||")
            continue
        lines.append(
            f"| {p['way']} | {p['opened']} | {p['errors']} | {p['seconds']:.1f} | {p['history_in_page']} | "
            + " | ".join(_s(p.get(k)).replace(" | ", " / ") for k in ("page", "connected", "joined", "ready"))
            + f" | {p['cpu_ms_per_tab']:.1f} | {p['server_cores']:.2f} | {_f(p.get('dynamodb_local_ms_per_tab'))} "
            f"| {p['machine_busy']:.2f} | {p['rss_kib_per_tab']:.0f} |"
        )
    if result.get("ratio") is not None:
        lines += ["", f"The product's storm takes {result['ratio']:.2f}x the floor's (target ≤ {TARGET_RATIO})."]
    product = result["points"][1]
    parts = product.get("profile_parts")
    if parts:
        total = sum(n for _, n in parts)
        lines += [
            "",
            "Where the product's server spends its CPU during the storm (py-spy, the thread holding the GIL, 100 "
            f"samples/s; {total} samples; each sample counted once, in the first part its stack shows, in this "
            f"order; full profile: `{product.get('profile')}`):",
            "",
            "| part of a page build | share | ms per tab |",
            "|---|---:|---:|",
        ]
        per_tab = product["cpu_ms_per_tab"]
        lines += [f"| {name} | {100 * n / total:.1f}% | {per_tab * n / total:.1f} |" for name, n in parts]
    return lines
