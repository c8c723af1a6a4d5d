"""The presence point: what the Online list, the typing line and reactions cost the server with many tabs in one room.

One product server, ``tabs`` tabs in the lobby (logged in, joined, as browsers). Windows of ``window`` seconds
each: idle (the tabs connected, nothing happens); new messages at ``rate`` a second, then reactions (added and
taken back) at the same rate, through the API: a stored change against a new message, at the same number of
tabs; typing (``typists`` people say they type through the API every 3 s, as the composer does); and typing with
churn (also, ``churn`` times a second, the oldest tab closes and a new person's tab opens). Measured: the
server's CPU above idle, and the presence and typing frames each tab receives per second (the target: at most 2,
one of each, whatever the churn).
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from . import procstat
from .fanout import log
from .serverproc import Backends, ServerProcess
from .tab import TabSpec
from .workers import ChurnOrder, OpenOrder, WorkerHandle

TARGET_FRAMES_PER_TAB_SECOND = 2.0
TARGET_CPU_ABOVE_IDLE = 0.10  # of a core, with typing going on, and with tabs coming and going too
TARGET_WINDOWS = ("typing", "typing and churn")
_TYPING_EVERY = 3.0  # components/composer.js: at most one typing event every 3 s while typing
_NEVER = "(?!)"  # arm the tabs to count frames, matching no message


async def _sessions(base_url: str, count: int, nonce: str) -> list[str]:
    """``count`` API sessions' tokens (made before anything is measured)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60, trust_env=False) as http:
        tokens = []
        for i in range(count):
            answer = await http.post("/api/sessions", json={"name": f"t{nonce}{i}"})
            answer.raise_for_status()
            tokens.append(answer.json()["token"])
        return tokens


async def _typing(base_url: str, room: str, *, tokens: list[str], seconds: float) -> dict[str, int]:
    """Each session of ``tokens`` says it types every 3 s, the sessions spread evenly, for ``seconds``."""
    counts = {"sent": 0, "failed": 0, "late": 0}
    typists = len(tokens)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, trust_env=False) as http:
        started = time.monotonic()

        async def one(index: int, token: str) -> None:
            at = started + index * _TYPING_EVERY / typists
            while at < started + seconds:
                await asyncio.sleep(max(0.0, at - time.monotonic()))
                headers = {"Authorization": f"Bearer {token}"}
                asked = time.monotonic()
                try:
                    response = await http.post(f"/api/rooms/{room}/typing", headers=headers)
                except httpx.HTTPError:
                    counts["failed"] += 1
                else:
                    counts["sent" if response.status_code == 204 else "failed"] += 1
                if time.monotonic() - asked > 1.0:  # an answer this slow says the server is overloaded
                    counts["late"] += 1
                at += _TYPING_EVERY

        await asyncio.gather(*(one(i, token) for i, token in enumerate(tokens)))
    return counts


async def _writes(base_url: str, room: str, token: str, *, rate: float, seconds: float, react: bool) -> dict[str, int]:
    """``rate`` writes a second for ``seconds``: new messages, or a reaction on one message added and taken back."""
    counts = {"sent": 0, "failed": 0}
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, timeout=30, trust_env=False, headers=headers) as http:
        target = ""
        if react:
            answer = await http.post(f"/api/rooms/{room}/messages", json={"text": "react to me"})
            answer.raise_for_status()
            target = f"/api/rooms/{room}/messages/{quote(answer.json()['key'], safe='')}/reactions/{quote('👍')}"
        started = time.monotonic()
        for i in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
            try:
                if not react:
                    response = await http.post(f"/api/rooms/{room}/messages", json={"text": f"message {i}"})
                else:
                    response = await (http.put(target) if i % 2 == 0 else http.delete(target))
            except httpx.HTTPError:
                counts["failed"] += 1
            else:
                counts["sent" if response.is_success else "failed"] += 1
    return counts


class _Point:
    def __init__(
        self, backends: Backends, work_dir: Path, *, tabs: int, people: int, client_procs: int, concurrency: int
    ) -> None:
        self.backends = backends
        self.people = people  # API sessions: the typists, the first of whom also writes
        self.tabs = tabs
        self.nonce = secrets.token_hex(2)
        self.server = ServerProcess(
            way="product",
            backends=backends,
            log_path=work_dir / "server-presence.log",
            storage_path=work_dir / "storage-presence",
        )
        self.spec = TabSpec(base_url=self.server.base_url, path="/", login=True, join=True)
        count = min(client_procs, max(1, math.ceil(tabs / 50)))
        context = multiprocessing.get_context("spawn")
        self.workers = [WorkerHandle(context) for _ in range(count)]
        self.concurrency = concurrency
        self.windows = 0
        self.tokens: list[str] = []  # the typists' sessions, the same people in every window

    async def connect(self) -> dict[str, Any]:
        await asyncio.to_thread(self.server.wait_ready)
        names = [f"p{self.nonce}_{i}" for i in range(self.tabs)]
        count = len(self.workers)
        started = time.monotonic()
        opened = await asyncio.gather(
            *(
                w.call(
                    "open",
                    OpenOrder(spec=self.spec, names=names[i::count], concurrency=self.concurrency, timeout=60),
                    wait=600,
                )
                for i, w in enumerate(self.workers)
            )
        )
        connected = sum(a["ok"] for a in opened)
        seconds = time.monotonic() - started
        log(f"presence: {connected} tabs connected in {seconds:.1f} s")
        return {"connected": connected, "connect_failed": sum(a["failed"] for a in opened), "connect_seconds": seconds}

    async def window(
        self,
        name: str,
        seconds: float,
        *,
        typists: int = 0,
        churn: float = 0.0,
        writes: float = 0.0,
        react: bool = False,
    ) -> dict[str, Any]:
        """One measured window: the server's CPU over it, and the frames its tabs received."""
        self.windows += 1
        nonce = f"{self.nonce}w{self.windows}_"  # each window's new tabs are new people
        if (typists or writes) and not self.tokens:  # made before the window: joining is not what is measured
            self.tokens = await _sessions(self.server.base_url, max(self.people, 1), self.nonce)
        await asyncio.gather(*(w.call("arm", (_NEVER, None)) for w in self.workers))
        cpu0, t0 = self.server.cpu(), time.monotonic()
        system0 = procstat.SystemCpu.read()
        work: list[Any] = [asyncio.sleep(seconds)]
        if writes:
            room, token = self.backends.room, self.tokens[0]
            work.append(_writes(self.server.base_url, room, token, rate=writes, seconds=seconds, react=react))
        if typists:
            tokens = self.tokens[:typists]
            work.append(_typing(self.server.base_url, self.backends.room, tokens=tokens, seconds=seconds))
        if churn:
            per_worker = churn / len(self.workers)
            for i, w in enumerate(self.workers):
                order = ChurnOrder(self.spec, f"c{nonce}{i}_", per_worker, seconds, timeout=30)
                work.append(w.call("churn", order, wait=seconds + 120))
        done = await asyncio.gather(*work)
        cpu1, t1 = self.server.cpu(), time.monotonic()
        system = procstat.SystemCpu.read().busy_seconds_since(system0) / (t1 - t0)
        counts = await asyncio.gather(*(w.call("count") for w in self.workers))
        live = sum(c["live"] for c in counts)
        frames = sum(c["presence"] for c in counts)
        result: dict[str, Any] = {
            "window": name,
            "seconds": t1 - t0,
            "server_cpu": (cpu1 - cpu0) / (t1 - t0),  # cores
            "machine_busy": system,
            "live_tabs": live,
            "frames_per_tab_second": frames / max(1, live) / (t1 - t0),
        }
        if writes:
            result["writes"] = done[1]
            result["writes_per_second"] = writes
        if typists:
            result["typing"] = done[1]
        if churn:
            churned = done[2 if typists else 1 :]
            result["churn"] = {k: sum(c[k] for c in churned) for k in ("opened", "closed", "failed")}
        log(
            f"presence: {name}: server {result['server_cpu'] * 100:.1f}% of a core, "
            f"{result['frames_per_tab_second']:.2f} frames per tab per second over {live} tabs"
        )
        return result

    async def cleanup(self) -> None:
        for worker in self.workers:
            try:
                await worker.call("close", wait=60)
            except Exception as exc:  # the worker is stopped below in any case
                log(f"presence: a client process did not close its tabs: {exc}")
        for worker in self.workers:
            await asyncio.to_thread(worker.stop)
        await asyncio.to_thread(self.server.stop)


async def _run(
    backends: Backends,
    work_dir: Path,
    *,
    tabs: int,
    typists: int,
    churn: float,
    window: float,
    rate: float,
    client_procs: int,
    concurrency: int,
) -> dict[str, Any]:
    point = _Point(backends, work_dir, tabs=tabs, people=typists, client_procs=client_procs, concurrency=concurrency)
    result: dict[str, Any] = {"tabs": tabs, "typists": typists, "churn_per_second": churn, "window_seconds": window}
    try:
        result.update(await point.connect())
        await asyncio.sleep(6.0)  # the server settles after the tabs connected (their first rounds)
        idle = await point.window("idle", window)
        posts = await point.window(f"new messages at {rate:g}/s", window, writes=rate)
        reacts = await point.window(f"reactions at {rate:g}/s", window, writes=rate, react=True)
        typing = await point.window("typing", window, typists=typists)
        both = await point.window("typing and churn", window, typists=typists, churn=churn)
        result["windows"] = [idle, posts, reacts, typing, both]
        for w in result["windows"][1:]:
            w["server_cpu_above_idle"] = w["server_cpu"] - idle["server_cpu"]
        result["reaction_to_message_cpu"] = reacts["server_cpu_above_idle"] / max(1e-9, posts["server_cpu_above_idle"])
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"[:300]
        log(f"presence: {result['error']}")
    finally:
        await point.cleanup()
    return result


def run(backends: Backends, work_dir: Path, **options: Any) -> dict[str, Any]:
    """The presence point; ``options`` as ``_run`` takes them."""
    log(
        f"presence: {options['tabs']} tabs in one room, {options['typists']} typing, {options['churn']:g} tabs "
        "closed and opened a second"
    )
    return asyncio.run(_run(backends, work_dir, **options))


def targets(result: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """The presence point's target rows: (target, measured, met)."""
    what = f"presence and typing at {result['tabs']:,} tabs"
    rows: list[tuple[str, str, bool | None]] = []
    measured = [w for w in result.get("windows") or [] if w["window"] in TARGET_WINDOWS]
    for window in measured:
        above = window.get("server_cpu_above_idle")
        rows.append(
            (
                f"{what}, {window['window']}: ≤ {TARGET_CPU_ABOVE_IDLE:.0%} of a core above idle",
                "-" if above is None else f"{above:+.1%}",
                None if above is None else above <= TARGET_CPU_ABOVE_IDLE,
            )
        )
    if measured:
        frames = max(w["frames_per_tab_second"] for w in measured)
        rows.append(
            (
                f"{what}: ≤ {TARGET_FRAMES_PER_TAB_SECOND:g} frames per tab per second",
                f"{frames:.2f} at most",
                frames <= TARGET_FRAMES_PER_TAB_SECOND,
            )
        )
    return rows


def markdown(result: dict[str, Any], command: str) -> str:
    """The presence point as docs/benchmarks-presence.md shows it."""
    lines = [
        "# Presence and typing: cost with many tabs in one room",
        "",
        f"Command: `{command}`. {result['tabs']} tabs (logged in, joined) in one room of one product process; "
        f"{result['typists']} people saying they type every 3 s through `POST /api/rooms/{{room}}/typing` (as the "
        f"composer does); in the last window, {result['churn_per_second']:g} tabs a second closed and as many new "
        "people's tabs opened. Frames: `sinchchat_presence` and `sinchchat_typing` received per live tab per second "
        f"(target ≤ {TARGET_FRAMES_PER_TAB_SECOND:g}: one of each, paced by the broadcaster).",
        "",
    ]
    if "error" in result:
        lines += [f"The run failed: {result['error']}", ""]
    if result.get("windows"):
        lines += [
            "| window | seconds | live tabs | server CPU (% of a core) | above idle | frames per tab per second |",
            "|---|---|---|---|---|---|",
        ]
        for w in result["windows"]:
            above = w.get("server_cpu_above_idle")
            lines.append(
                f"| {w['window']} | {w['seconds']:.0f} | {w['live_tabs']} | {w['server_cpu'] * 100:.1f} | "
                f"{'' if above is None else f'{above * 100:+.1f}'} | {w['frames_per_tab_second']:.2f} |"
            )
        lines.append("")
        for w in result["windows"]:
            if "churn" in w or "typing" in w:
                lines.append(f"- {w['window']}: typing events {w.get('typing')}, churn {w.get('churn')}")
            if "writes" in w:
                per = w["server_cpu_above_idle"] / w["writes_per_second"] * 1000
                lines.append(f"- {w['window']}: writes {w['writes']}, {per:.1f} ms of server CPU each above idle")
        if "reaction_to_message_cpu" in result:
            lines.append(
                f"- a reaction costs {result['reaction_to_message_cpu']:.2f}x what a new message costs, at "
                f"{result['tabs']} tabs (the same emit to the room, a larger payload, no new key)"
            )
        lines.append("")
    lines.append(
        f"Tabs connected: {result.get('connected')} in {result.get('connect_seconds', 0):.0f} s "
        f"({result.get('connect_failed')} failed)."
    )
    return "\n".join(lines) + "\n"
