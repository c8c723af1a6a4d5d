"""One point of the fan-out benchmark: a fresh server for one way, N connected tabs, idle, then a sender at a rate.

Per point: start the server, warm it up with one tab, read its RSS (0 tabs), connect N tabs spread over client
processes, read RSS again (N tabs, each holding one history page), measure idle CPU, then post ``rate`` messages a
second for ``duration`` seconds and wait (at most ``grace`` seconds) until every tab has every message.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from . import procstat
from .alternatives import PATHS
from .sender import Post, Sender
from .serverproc import Backends, ServerProcess
from .stats import summary
from .tab import Tab, TabSpec
from .workers import OpenOrder, WorkerHandle

_RECONNECT_TIMEOUT = 3.0  # ui.run's default: a closed tab's client is deleted this long after its socket went
_SETTLE = 3.0
_TABS_PER_PROCESS_MIN = 50


@dataclass(frozen=True, slots=True)
class FanoutConfig:
    backends: Backends
    rate: float
    duration: float
    idle_duration: float
    grace: float
    client_procs: int
    concurrency: int  # page loads in flight per client process
    work_dir: Path
    deflate: bool = True
    trace_memory: bool = False  # attribute the server's memory per source line (slows it: no timings)


def _pauses_in(pauses: list[list[float]], start: float, end: float) -> dict[str, float | int]:
    """Garbage-collector pauses of at least 1 ms that ended within [start, end] (monotonic seconds)."""
    inside = [(generation, seconds) for ended, generation, seconds in pauses if start <= ended <= end]
    return {
        "pauses": len(inside),
        "gen2": sum(1 for generation, _ in inside if generation == 2),
        "total_ms": 1000 * sum(seconds for _, seconds in inside),
        "max_ms": 1000 * max((seconds for _, seconds in inside), default=0.0),
    }


def log(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


class Point:
    """The measurement of one (way, clients) pair; ``result`` fills up as it goes, so a timeout keeps what was seen."""

    def __init__(self, way: str, clients: int, config: FanoutConfig) -> None:
        self.way = way
        self.clients = clients
        self.config = config
        self.label = f"{way}-{clients}"
        self.result: dict[str, Any] = {"way": way, "clients": clients, "rate": config.rate, "deflate": config.deflate}
        self.server: ServerProcess | None = None
        self.workers: list[WorkerHandle] = []
        self.sender: Sender | None = None
        self.posts: list[Post] = []
        self._nonce = secrets.token_hex(3)

    @property
    def budget(self) -> float:
        """Seconds the whole point may take before it is cut off and recorded as such."""
        c = self.config
        return 60 + self._connect_timeout() + _SETTLE + c.idle_duration + c.duration + 2 * c.grace + 30

    def _connect_timeout(self) -> float:
        return 30 + self.clients * 0.15

    async def _worker_cpu(self) -> float:
        answers = await asyncio.gather(*(w.call("count", wait=30) for w in self.workers))
        return float(sum(a["cpu"] for a in answers))

    async def _objects(self) -> int | None:
        """How many objects the server's garbage collector tracks (what a full collection visits)."""
        assert self.server is not None
        try:
            async with httpx.AsyncClient(base_url=self.server.base_url, timeout=10, trust_env=False) as http:
                count = (await http.get("/bench/gc", params={"objects": "true"})).json()["objects"]
                return int(count)
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return None

    async def _memory(self, step: str) -> dict[str, Any] | None:
        """Mark the server's traced allocations, or read what grew since the mark, by source line."""
        assert self.server is not None
        try:
            async with httpx.AsyncClient(base_url=self.server.base_url, timeout=120, trust_env=False) as http:
                if step == "mark":
                    (await http.post("/bench/memory/mark")).raise_for_status()
                    return None
                answer: dict[str, Any] = (await http.get("/bench/memory", params={"top": 100})).json()
                return answer
        except (httpx.HTTPError, ValueError) as exc:
            log(f"{self.label}: memory attribution failed: {exc}")
            return None

    async def measure(self) -> None:
        c = self.config
        r = self.result
        self.server = ServerProcess(
            way=self.way,
            backends=c.backends,
            log_path=c.work_dir / f"server-{self.label}.log",
            storage_path=c.work_dir / f"storage-{self.label}",
            trace_memory=c.trace_memory,
        )
        await asyncio.to_thread(self.server.wait_ready)
        server = self.server
        product = self.way == "product"  # the product's page needs a logged-in browser and joins its room
        spec = TabSpec(
            base_url=server.base_url, path=PATHS[self.way], login=product, join=product, deflate=self.config.deflate
        )

        # one tab first, so one-time costs (imports, templates, the first page) are not counted per client
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30, trust_env=False) as http:
            warm = Tab(name=f"w{self._nonce}", spec=spec)
            await warm.open(http, wait=30)
            await asyncio.sleep(0.5)
            await warm.close()
        await asyncio.sleep(_RECONNECT_TIMEOUT + 1.5)
        rss_empty = server.rss()
        r["rss_empty_mib"] = rss_empty / 2**20
        objects_empty = await self._objects()
        if c.trace_memory:
            await self._memory("mark")

        if self.clients:
            context = multiprocessing.get_context("spawn")
            count = min(c.client_procs, max(1, math.ceil(self.clients / _TABS_PER_PROCESS_MIN)))
            self.workers = [WorkerHandle(context) for _ in range(count)]
            names = [f"u{self._nonce}_{i}" for i in range(self.clients)]
            started = time.monotonic()
            opened = await asyncio.gather(
                *(
                    w.call(
                        "open",
                        OpenOrder(spec=spec, names=names[i::count], concurrency=c.concurrency, timeout=30),
                        wait=self._connect_timeout(),
                    )
                    for i, w in enumerate(self.workers)
                )
            )
            r["client_procs"] = count
            r["connected"] = sum(a["ok"] for a in opened)
            r["connect_failed"] = sum(a["failed"] for a in opened)
            r["connect_seconds"] = time.monotonic() - started
            r["connect_errors"] = [e for a in opened for e in a["errors"]][:5]
            log(f"{self.label}: {r['connected']} tabs connected in {r['connect_seconds']:.1f} s")
        else:
            r.update(client_procs=0, connected=0, connect_failed=0, connect_seconds=0.0, connect_errors=[])
        await asyncio.sleep(_SETTLE)
        rss_full = server.rss()
        r["rss_mib"] = rss_full / 2**20
        objects_full = await self._objects()
        if self.clients:
            r["rss_kib_per_client"] = (rss_full - rss_empty) / 1024 / self.clients
            if objects_empty is not None and objects_full is not None:
                r["gc_objects"] = objects_full
                r["gc_objects_per_client"] = (objects_full - objects_empty) / self.clients
        if c.trace_memory:
            r["memory_grown"] = await self._memory("grown")

        # idle: the connected tabs, nothing posted
        cpu0, sys0, workers0, t0 = server.cpu(), procstat.SystemCpu.read(), await self._worker_cpu(), time.monotonic()
        await asyncio.sleep(c.idle_duration)
        cpu1, sys1, workers1, t1 = server.cpu(), procstat.SystemCpu.read(), await self._worker_cpu(), time.monotonic()
        idle_window = (t0, t1)
        idle_rate = (cpu1 - cpu0) / (t1 - t0)
        r["idle_cpu_cores"] = idle_rate
        r["idle_client_cpu_cores"] = (workers1 - workers0) / (t1 - t0)
        r["idle_machine_cpu_cores"] = sys1.busy_seconds_since(sys0) / (t1 - t0)

        # active: the sender posts at the rate; every tab should see every message
        pattern = rf"tk{self._nonce}n(\d+)e"
        armed = await asyncio.gather(*(w.call("arm", pattern, wait=30) for w in self.workers))
        live = sum(a["live"] for a in armed)
        r["live_at_start"] = live
        self.sender = Sender(server.base_url, timeout=c.duration + c.grace)
        await self.sender.join(f"s{self._nonce}")
        count = max(1, round(c.rate * c.duration))
        own0 = time.process_time()
        workers0 = sum(a["cpu"] for a in armed)
        cpu0, sys0, t0 = server.cpu(), procstat.SystemCpu.read(), time.monotonic()
        try:
            await asyncio.wait_for(
                self.sender.run(count=count, rate=c.rate, text=f"benchmark message tk{self._nonce}n{{}}e"),
                c.duration + c.grace + 10,
            )
        except TimeoutError:
            r["sender_cut_off"] = True
        self.posts = self.sender.posts
        ok = {p.number: p for p in self.posts if p.status == 201}
        expected = len(ok) * live
        # a sender that was cut off means the server stopped answering: waiting longer only costs time
        deadline = time.monotonic() + (0 if r.get("sender_cut_off") else c.grace)
        seen = 0
        while time.monotonic() < deadline:
            counts = await asyncio.gather(*(w.call("count", wait=30) for w in self.workers))
            seen = sum(a["seen"] for a in counts)
            if seen >= expected:
                break
            await asyncio.sleep(0.2)
        cpu1, sys1, t1 = server.cpu(), procstat.SystemCpu.read(), time.monotonic()
        own1 = time.process_time()
        collected = await asyncio.gather(*(w.call("collect", wait=60) for w in self.workers))
        workers1 = sum(a["cpu"] for a in collected)
        window = t1 - t0

        latencies: list[float] = []
        by_message: dict[int, list[float]] = {}
        for answer in collected:
            for tab_seen in answer["seen"]:
                for number, arrived in tab_seen.items():
                    post = ok.get(number)
                    if post is not None:
                        latency = (arrived - post.sent_at) * 1000
                        latencies.append(latency)
                        by_message.setdefault(number, []).append(latency)
        received = len(latencies)
        # per message: when half the tabs had it and when the last one did, to tell a slow message from slow tabs
        r["per_message_ms"] = [[n, summary(values)["p50"], max(values)] for n, values in sorted(by_message.items())]
        try:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=3, trust_env=False) as http:
                pauses = (await http.get("/bench/gc")).json()["pauses"]
            r["gc_idle"] = _pauses_in(pauses, *idle_window)
            r["gc_active"] = _pauses_in(pauses, t0, t1)
        except (httpx.HTTPError, ValueError, KeyError):
            pass  # a collapsed server does not answer; the pauses are then not the story
        dropped_times = [d for a in collected for d in a["dropped_at"]]
        fanout_cpu = (cpu1 - cpu0) - idle_rate * window
        r.update(
            posted=len(self.posts),
            posted_ok=len(ok),
            post_errors=len(self.posts) - len(ok),
            post_seconds=summary([p.seconds * 1000 for p in self.posts]),
            expected=expected,
            received=received,
            lost=expected - received,
            dropped=sum(1 for d in dropped_times if d >= t0),
            dropped_before=sum(1 for d in dropped_times if d < t0),
            drained=received >= expected,
            active_seconds=window,
            latency_ms=summary(latencies),
            server_cpu_cores=(cpu1 - cpu0) / window,
            cpu_ms_per_msg=1000 * fanout_cpu / len(ok) if ok else None,
            client_cpu_cores=(workers1 - workers0) / window,
            sender_cpu_cores=(own1 - own0) / window,
            machine_cpu_cores=sys1.busy_seconds_since(sys0) / window,
        )
        ours = r["server_cpu_cores"] + r["client_cpu_cores"] + r["sender_cpu_cores"]
        r["other_cpu_cores"] = r["machine_cpu_cores"] - ours
        r["collapsed"] = bool(r["lost"] or r["dropped"] or r["post_errors"])

    async def cleanup(self) -> None:
        if self.sender is not None:
            with contextlib.suppress(Exception):
                await self.sender.close()
        for worker in self.workers:
            with contextlib.suppress(Exception):
                await worker.call("close", wait=20)
        for worker in self.workers:
            await asyncio.to_thread(worker.stop)
        if self.server is not None:
            await asyncio.to_thread(self.server.stop)


async def run_point(way: str, clients: int, config: FanoutConfig) -> dict[str, Any]:
    point = Point(way, clients, config)
    log(f"{point.label}: start")
    started = time.monotonic()
    try:
        await asyncio.wait_for(point.measure(), point.budget)
    except TimeoutError:
        point.result["error"] = f"cut off after {point.budget:.0f} s"
        point.result["collapsed"] = True
    except Exception as exc:
        point.result["error"] = f"{type(exc).__name__}: {exc}"[:300]
        point.result["collapsed"] = True
    finally:
        await point.cleanup()
    r = point.result
    r["point_seconds"] = time.monotonic() - started
    latency = r.get("latency_ms") or {}
    log(
        f"{point.label}: cpu/msg {r.get('cpu_ms_per_msg') or 0:.1f} ms, p50 {latency.get('p50') or 0:.1f} "
        f"p99 {latency.get('p99') or 0:.1f} ms, lost {r.get('lost')}, dropped {r.get('dropped')}"
        + (f", error: {r['error']}" if "error" in r else "")
    )
    return r
