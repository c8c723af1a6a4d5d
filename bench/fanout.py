"""One point of the fan-out benchmark: a fresh server for one way, N connected tabs, idle, then a sender at a rate.

Per point: start the server, warm it up with one tab, read its RSS (0 tabs), connect N tabs spread over client
processes, read RSS again (N tabs, each holding one history page), measure idle CPU, then post ``rate`` messages a
second for ``duration`` seconds and wait (at most ``grace`` seconds) until every tab has every message.

With a RoomLayout the tabs are spread over rooms made through the API first, and the sender posts to one room:
every tab of that room should have every message, and the tabs of the other rooms are there to cost what they cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import multiprocessing
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from . import procstat
from .alternatives import PATHS
from .sender import Post, Sender
from .serverproc import REPO, Backends, ServerProcess
from .stats import summary
from .tab import Tab, TabSpec
from .workers import OpenOrder, WorkerHandle, close_clients

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
    profile_to: Path | None = None  # after the measurement, cProfile the server through a second burst (rooms)
    # with a value: the active window lasts at least this long (from the first post), like the idle one, so that
    # both hold the same number of the server's periodic rounds (catch-up every 15 s) whatever their phase
    window: float | None = None
    # more (idle, active) pairs after the first, each a fresh burst: CPU/msg is their mean, so one window's noise
    # (1,000 idle tabs cost far more than one message) and a drift after connecting weigh less
    cycles: int = 1
    settle: float = 3.0  # seconds after the tabs connected before anything is measured
    server_args: tuple[str, ...] = ()  # more arguments of bench.server (e.g. --library-default wsproto)


@dataclass(frozen=True, slots=True)
class RoomLayout:
    """Tabs spread over rooms: every room of ``names`` is made through the API before a tab connects, the first
    ``shown`` rooms get ``per_room`` tabs each, and the sender posts to the first room."""

    names: tuple[str, ...]
    per_room: int
    shown: int

    @property
    def tabs(self) -> int:
        return self.per_room * self.shown


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

    def __init__(self, way: str, clients: int, config: FanoutConfig, layout: RoomLayout | None = None) -> None:
        self.way = way
        self.clients = clients
        self.config = config
        self.layout = layout
        self.label = f"{way}-{clients}" if layout is None else f"rooms-{layout.shown}x{layout.per_room}"
        self.result: dict[str, Any] = {"way": way, "clients": clients, "rate": config.rate, "deflate": config.deflate}
        if layout is not None:
            self.result.update(rooms=len(layout.names), shown_rooms=layout.shown, per_room=layout.per_room)
        self.server: ServerProcess | None = None
        self.workers: list[WorkerHandle] = []
        self.sender: Sender | None = None
        self.warm: Tab | None = None
        self.posts: list[Post] = []
        self._nonce = secrets.token_hex(3)
        self._watched: str | None = None  # the page whose tabs should get every message; None: every tab's

    @property
    def budget(self) -> float:
        """Seconds the whole point may take before it is cut off and recorded as such."""
        c = self.config
        rooms = 0 if self.layout is None else 30 + len(self.layout.names) * 0.5
        profiled = 0 if c.profile_to is None else c.duration * 3 + c.grace + 60  # profiling slows the server
        waits = c.idle_duration + max(c.duration + 2 * c.grace, c.window or 0)
        return 60 + rooms + self._connect_timeout() + c.settle + waits * c.cycles + 30 + profiled

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
            args=c.server_args,
        )
        await asyncio.to_thread(self.server.wait_ready)
        server = self.server
        product = self.way == "product"  # the product's page needs a logged-in browser and joins its room
        spec = TabSpec(
            base_url=server.base_url, path=PATHS[self.way], login=product, join=product, deflate=self.config.deflate
        )
        self.sender = Sender(server.base_url, timeout=c.duration + c.grace)
        await self.sender.join(f"s{self._nonce}")
        post_path, paths = "/api/messages", None  # where the sender posts; each tab's page when they differ
        if self.layout is not None:
            # as the New room button does, one after the other; a room made by the previous point is found again
            made = [await self.sender.create_room(name) for name in self.layout.names]
            post_path = f"/api/rooms/{quote(made[0]['id'], safe='')}/messages"
            shown = [room["path"] for room in made[: self.layout.shown]]
            paths = [shown[i % len(shown)] for i in range(self.clients)]
            spec = dataclasses.replace(spec, path=shown[0])
            r["post_path"] = post_path

        # one tab first, so one-time costs (imports, templates, the first page) are not counted per client; it stays
        # open (a closed tab's client lives on for CHAT_RECONNECT_SECONDS) and is not among the measured tabs
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30, trust_env=False) as http:
            self.warm = Tab(name=f"w{self._nonce}", spec=spec)
            await self.warm.open(http, wait=30)
        await asyncio.sleep(1.5)
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
                        OpenOrder(
                            spec=spec,
                            names=names[i::count],
                            concurrency=c.concurrency,
                            timeout=30,
                            paths=None if paths is None else paths[i::count],
                        ),
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
        await asyncio.sleep(c.settle)
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
        main0 = procstat.main_thread_cpu_seconds(server.pid)
        cpu0, sys0, workers0, t0 = server.cpu(), procstat.SystemCpu.read(), await self._worker_cpu(), time.monotonic()
        await asyncio.sleep(c.idle_duration)
        cpu1, sys1, workers1, t1 = server.cpu(), procstat.SystemCpu.read(), await self._worker_cpu(), time.monotonic()
        main1 = procstat.main_thread_cpu_seconds(server.pid)
        idle_window = (t0, t1)
        idle_rate = (cpu1 - cpu0) / (t1 - t0)
        idle_main_rate = (main1 - main0) / (t1 - t0)
        r["idle_cpu_cores"] = idle_rate
        r["idle_client_cpu_cores"] = (workers1 - workers0) / (t1 - t0)
        r["idle_machine_cpu_cores"] = sys1.busy_seconds_since(sys0) / (t1 - t0)

        # active: the sender posts at the rate; every tab (of the room posted to) should see every message
        pattern = rf"tk{self._nonce}n(\d+)e"
        watched = self._watched = None if paths is None else spec.path
        armed = await asyncio.gather(*(w.call("arm", (pattern, watched), wait=30) for w in self.workers))
        live = sum(a["live"] for a in armed)
        r["live_at_start"] = live
        count = max(1, round(c.rate * c.duration))
        own0 = time.process_time()
        workers0 = sum(a["cpu"] for a in armed)
        main0 = procstat.main_thread_cpu_seconds(server.pid)
        cpu0, sys0, t0 = server.cpu(), procstat.SystemCpu.read(), time.monotonic()
        try:
            await asyncio.wait_for(
                self.sender.run(
                    count=count, rate=c.rate, text=f"benchmark message tk{self._nonce}n{{}}e", path=post_path
                ),
                c.duration + c.grace + 10,
            )
        except TimeoutError:
            r["sender_cut_off"] = True
        self.posts = self.sender.posts
        ok = {p.number: p for p in self.posts if p.status == 201}
        expected = len(ok) * live
        # a sender that was cut off means the server stopped answering: waiting longer only costs time
        deadline = time.monotonic() + (0 if r.get("sender_cut_off") else c.grace)
        await self._drain(expected, deadline)
        if c.window and time.monotonic() < t0 + c.window:
            await asyncio.sleep(t0 + c.window - time.monotonic())  # the same span as the idle window
        activity_frames = (await self._counts())["activity"] if self.workers else 0
        cpu1, sys1, t1 = server.cpu(), procstat.SystemCpu.read(), time.monotonic()
        main1 = procstat.main_thread_cpu_seconds(server.pid)
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
            # the room list's activity frames that reached the tabs, per message posted: each is a socket write
            activity_frames_per_msg=activity_frames / len(ok) if ok else None,
            # the event loop's thread alone (sockets, emits, views), measured the same way
            loop_cpu_ms_per_msg=1000 * ((main1 - main0) - idle_main_rate * window) / len(ok) if ok else None,
            client_cpu_cores=(workers1 - workers0) / window,
            sender_cpu_cores=(own1 - own0) / window,
            machine_cpu_cores=sys1.busy_seconds_since(sys0) / window,
        )
        ours = r["server_cpu_cores"] + r["client_cpu_cores"] + r["sender_cpu_cores"]
        r["other_cpu_cores"] = r["machine_cpu_cores"] - ours
        r["collapsed"] = bool(r["lost"] or r["dropped"] or r["post_errors"])
        if c.cycles > 1 and not r["collapsed"]:
            kept = ("idle_cpu_cores", "cpu_ms_per_msg", "loop_cpu_ms_per_msg", "activity_frames_per_msg", "lost")
            r["cycles"] = [{k: r[k] for k in kept}] + [
                await self._cycle(i, count, post_path) for i in range(1, c.cycles)
            ]
            for key in ("cpu_ms_per_msg", "loop_cpu_ms_per_msg", "activity_frames_per_msg"):
                values = [cycle[key] for cycle in r["cycles"] if cycle[key] is not None]
                r[key] = sum(values) / len(values) if values else None
            r["lost"] = sum(cycle["lost"] for cycle in r["cycles"])
            r["post_errors"] += sum(cycle.get("post_errors", 0) for cycle in r["cycles"][1:])
            # sockets the server closed during the later cycles
            live_before = r["connected"] - r["dropped_before"] - r["dropped"]
            r["dropped"] += max(0, live_before - (await self._counts())["live"])
            r["collapsed"] = bool(r["lost"] or r["dropped"] or r["post_errors"])
        if c.profile_to is not None and not r["collapsed"]:
            await self._profile(c.profile_to, count, post_path, expected)

    async def _drain(self, expected: int, deadline: float) -> int:
        """Wait until the armed tabs have seen ``expected`` messages in all, or the deadline; returns how many."""
        seen = 0
        while time.monotonic() < deadline:
            seen = (await self._counts())["seen"]
            if seen >= expected:
                break
            await asyncio.sleep(0.2)
        return seen

    async def _counts(self) -> dict[str, int]:
        """What every tab received since armed: the messages looked for, the room-list frames; and the live tabs."""
        answers = await asyncio.gather(*(w.call("count", wait=30) for w in self.workers))
        return {key: sum(a[key] for a in answers) for key in ("seen", "live", "activity")}

    async def _cycle(self, index: int, count: int, post_path: str) -> dict[str, Any]:
        """One more idle window and one more burst, measured as the first: what CPU/msg averages over."""
        assert self.server is not None
        assert self.sender is not None
        c, server = self.config, self.server
        main0, cpu0, t0 = procstat.main_thread_cpu_seconds(server.pid), server.cpu(), time.monotonic()
        await asyncio.sleep(c.idle_duration)
        main1, cpu1, t1 = procstat.main_thread_cpu_seconds(server.pid), server.cpu(), time.monotonic()
        idle, idle_main = (cpu1 - cpu0) / (t1 - t0), (main1 - main0) / (t1 - t0)
        token = f"tk{self._nonce}c{index}n"
        armed = await asyncio.gather(
            *(w.call("arm", (rf"{token}(\d+)e", self._watched), wait=30) for w in self.workers)
        )
        live = sum(a["live"] for a in armed)
        main1, cpu1, t1 = procstat.main_thread_cpu_seconds(server.pid), server.cpu(), time.monotonic()
        posts = await self.sender.run(count=count, rate=c.rate, text=f"benchmark message {token}{{}}e", path=post_path)
        ok = sum(1 for p in posts if p.status == 201)
        seen = await self._drain(ok * live, time.monotonic() + c.grace)
        if c.window and time.monotonic() < t1 + c.window:
            await asyncio.sleep(t1 + c.window - time.monotonic())
        activity_frames = (await self._counts())["activity"]
        main2, cpu2, t2 = procstat.main_thread_cpu_seconds(server.pid), server.cpu(), time.monotonic()
        window = t2 - t1
        return {
            "idle_cpu_cores": idle,
            "cpu_ms_per_msg": 1000 * ((cpu2 - cpu1) - idle * window) / ok if ok else None,
            "loop_cpu_ms_per_msg": 1000 * ((main2 - main1) - idle_main * window) / ok if ok else None,
            "activity_frames_per_msg": activity_frames / ok if ok else None,
            "lost": ok * live - seen,
            "post_errors": count - ok,
        }

    async def _profile(self, to: Path, count: int, post_path: str, expected: int) -> None:
        """The same burst once more, under cProfile in the server (bench/server.py), after the measured one."""
        assert self.server is not None
        assert self.sender is not None
        c = self.config
        pattern = rf"tk{self._nonce}p(\d+)e"
        await asyncio.gather(*(w.call("arm", (pattern, self._watched), wait=30) for w in self.workers))
        async with httpx.AsyncClient(base_url=self.server.base_url, timeout=60, trust_env=False) as http:
            (await http.post("/bench/profile/start")).raise_for_status()
            started = time.monotonic()
            await self.sender.run(
                count=count, rate=c.rate, text=f"profiled message tk{self._nonce}p{{}}e", path=post_path
            )
            await self._drain(expected, time.monotonic() + c.grace)
            seconds = time.monotonic() - started
            answer = await http.post("/bench/profile/stop")
            answer.raise_for_status()
        header = (
            f"cProfile of the server's event loop thread ({self.label}: {self.clients} tabs), {count} messages posted "
            f"at {c.rate:g}/s to {post_path}, {seconds:.1f} s until every tab of the room had them.\n"
            "tottime: in the function itself; cumtime: with what it calls. Profiling slows the server: shares, not "
            "the measured figures.\n\n"
        )
        await asyncio.to_thread(to.parent.mkdir, parents=True, exist_ok=True)
        await asyncio.to_thread(to.write_text, header + answer.text)
        self.result["profile"] = str(to.relative_to(REPO) if to.is_relative_to(REPO) else to)

    async def cleanup(self) -> None:
        if self.warm is not None:
            with contextlib.suppress(Exception):
                await self.warm.close()
        await close_clients(self.sender, self.workers, wait=20)
        if self.server is not None:
            await asyncio.to_thread(self.server.stop)


async def run_point(way: str, clients: int, config: FanoutConfig, layout: RoomLayout | None = None) -> dict[str, Any]:
    point = Point(way, clients, config, layout)
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
