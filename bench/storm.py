"""The restart storm: two processes behind a private nginx, N tabs on each, one SIGKILLed while messages flow.

Every tab of the killed process must come back on the survivor by itself, as a browser does (bench/tab.py: the
socket drops, socket.io-client reconnects, the survivor does not know the page's client, nicegui.js reloads the
page, the load balancer sends it on, the chat panel joins), and end up with every message: 0 lost, 0 shown twice,
within 20 s. The sender posts through the balancer and retries a post that found its process dead with the same
nonce. The survivor's /metrics tell what the recovery cost it in DynamoDB calls: first pages come from the room's
memory, one per tab, while the Messages table is read per room.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing
import secrets
import signal
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.processes import NginxProcess

from . import procstat
from .fanout import log
from .sender import Sender
from .serverproc import Backends, ServerProcess
from .stats import summary
from .tab import KEY_PATTERN, TabSpec
from .workers import OpenOrder, WorkerHandle, close_clients

TARGET_SECONDS = 20.0
_ROUTE_PROBES = 64
_TABS_PER_PROCESS_MIN = 50


@dataclass(frozen=True, slots=True)
class StormConfig:
    backends: Backends
    work_dir: Path
    tabs: int  # per process
    rate: float  # messages a second, through the balancer
    before: float = 5.0  # seconds of sending before the kill
    after: float = 25.0  # seconds of sending after it
    grace: float = 40.0  # seconds after the last post for the last tab to catch up (the target is 20 from the kill)
    client_procs: int = 4
    concurrency: int = 8


def _metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """A Prometheus exposition as {(sample name, labels): value}."""
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def _grown(before: dict[Any, float], after: dict[Any, float], name: str) -> dict[str, float]:
    """How much each labelled sample of ``name`` grew, by its labels joined as ``a/b``."""
    grown = {}
    for (sample, labels), value in after.items():
        if sample == name:
            grown["/".join(v for _, v in labels)] = value - before.get((sample, labels), 0.0)
    return {k: v for k, v in sorted(grown.items()) if v}


class Storm:
    def __init__(self, config: StormConfig) -> None:
        self.config = config
        self.nonce = secrets.token_hex(3)
        self.result: dict[str, Any] = {"tabs_per_process": config.tabs, "rate": config.rate}
        self.servers: list[ServerProcess] = []
        self.nginx: NginxProcess | None = None
        self.workers: list[WorkerHandle] = []
        self.sender: Sender | None = None

    async def _routes(self, nginx: NginxProcess) -> dict[int, list[str]]:
        """Sticky cookie values by the port nginx sends them to, found by asking (the hash is nginx's business)."""
        probes = [f"s{self.nonce}-{i}" for i in range(_ROUTE_PROBES)]
        async with httpx.AsyncClient(base_url=nginx.base_url, timeout=10, trust_env=False) as http:
            for route in probes:
                (await http.get("/api/health", headers={"Cookie": f"sc_route={route}"})).raise_for_status()
        await asyncio.sleep(0.5)  # the access log is written as each request ends
        found: dict[int, list[str]] = {}
        for entry in nginx.access_log():
            if entry.get("route") in probes:
                port = int(entry["upstream"].rsplit(":", 1)[1])
                found.setdefault(port, []).append(entry["route"])
        return found

    async def _scrape(self, server: ServerProcess) -> dict[Any, float]:
        """The server's /metrics; empty when it does not answer within a minute (it is taking over the tabs)."""
        try:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=60, trust_env=False) as http:
                return _metrics((await http.get("/metrics")).text)
        except httpx.HTTPError as exc:
            log(f"storm: the survivor's /metrics did not answer: {exc!r}")
            return {}

    async def _stories(self) -> list[dict[str, Any]]:
        answers = await asyncio.gather(*(w.call("stories", wait=60) for w in self.workers))
        return [tab for answer in answers for tab in answer["tabs"]]

    async def measure(self) -> None:
        c = self.config
        r = self.result
        secret = secrets.token_urlsafe(32)
        shared = {"CHAT_STORAGE_SECRET": secret, "CHAT_TRUSTED_PROXIES": "127.0.0.1"}
        self.servers = [
            ServerProcess(
                way="product",
                backends=c.backends,
                log_path=c.work_dir / f"server-storm-{name}.log",
                storage_path=c.work_dir / f"storage-storm-{name}",
                settings=shared,
            )
            for name in ("a", "b")
        ]
        await asyncio.gather(*(asyncio.to_thread(s.wait_ready) for s in self.servers))
        victim, survivor = self.servers
        self.nginx = nginx = NginxProcess(
            directory=c.work_dir / "nginx-storm", upstream_ports=[s.port for s in self.servers], log_dir=c.work_dir
        )
        await asyncio.to_thread(nginx.wait_ready)
        routes = await self._routes(nginx)
        if victim.port not in routes or survivor.port not in routes:
            raise RuntimeError(f"nginx sent no probe to one of the processes: {routes}")

        self.sender = Sender(nginx.base_url, timeout=10, retry=15)
        await self.sender.join(f"storm{self.nonce}")
        spec = TabSpec(base_url=nginx.base_url, path="/", login=True, join=True, follow=True)
        count = min(c.client_procs, max(1, math.ceil(2 * c.tabs / _TABS_PER_PROCESS_MIN)))
        context = multiprocessing.get_context("spawn")
        self.workers = [WorkerHandle(context) for _ in range(count)]
        started = time.monotonic()
        opened: list[dict[str, Any]] = []  # each answer counts every tab its client process holds by then
        for which, server in (("a", victim), ("b", survivor)):
            names = [f"t{self.nonce}{which}{i}" for i in range(c.tabs)]
            # every browser has a sticky cookie of its own; these are among the values nginx sends to ``server``
            choices = routes[server.port]
            orders = [
                OpenOrder(spec=spec, names=names[i::count], concurrency=c.concurrency, timeout=60, route=route)
                for i, route in enumerate(choices[i % len(choices)] for i in range(count))
            ]
            opened += await asyncio.gather(
                *(w.call("open", order, wait=60 + c.tabs * 0.6) for w, order in zip(self.workers, orders, strict=True))
            )
        r["connected"] = sum(a["ok"] for a in opened[count:])
        r["connect_failed"] = sum(a["failed"] for a in opened)
        r["connect_errors"] = [e for a in opened for e in a["errors"]][:5]
        r["connect_seconds"] = time.monotonic() - started
        log(f"storm: {r['connected']} tabs on two processes in {r['connect_seconds']:.1f} s")
        await asyncio.sleep(3.0)

        pattern = rf'"key":\s*"(?P<key>{KEY_PATTERN})"[^{{}}]*?tk{self.nonce}n(?P<number>\d+)e'
        await asyncio.gather(*(w.call("arm", (pattern, None), wait=30) for w in self.workers))
        posts = max(1, round(c.rate * (c.before + c.after)))
        sending = asyncio.create_task(
            self.sender.run(count=posts, rate=c.rate, text=f"storm message tk{self.nonce}n{{}}e")
        )
        await asyncio.sleep(c.before)
        metrics0, cpu0 = await self._scrape(survivor), survivor.cpu()
        killed = time.monotonic()
        victim.process.send_signal(signal.SIGKILL)
        log(f"storm: killed one process ({c.tabs} tabs) while sending {c.rate:g} msg/s")
        # the survivor's CPU over the target's span from the kill: what taking over the tabs cost it
        await asyncio.sleep(TARGET_SECONDS)
        cpu1 = survivor.cpu()
        metrics1 = await self._scrape(survivor)
        await sending
        ok = {p.number: p for p in self.sender.posts if p.status == 201}
        orphans = {route for route in routes[victim.port]}
        deadline = time.monotonic() + c.grace
        while True:
            stories = await self._stories()
            complete = all(set(ok) <= {int(n) for n in tab["seen"]} or tab["failure"] for tab in stories)
            if complete or time.monotonic() > deadline:
                break
            await asyncio.sleep(2.0)
        r.update(
            posted=len(self.sender.posts),
            posted_ok=len(ok),
            retried_posts=sum(1 for p in self.sender.posts if p.tries > 1),
            survivor_cpu_cores=(cpu1 - cpu0) / TARGET_SECONDS,
            survivor_dynamodb_calls=_grown(metrics0, metrics1, "sinchchat_dynamodb_calls_total"),
            survivor_first_pages=_grown(metrics0, metrics1, "sinchchat_first_pages_total"),
        )
        r.update(tally(stories, ok={n: p.sent_at for n, p in ok.items()}, orphans=orphans, killed=killed))
        log(
            f"storm: {r['back']}/{r['orphaned']} back, p50 {r['back_s']['p50'] or 0:.1f} s, max "
            f"{r['back_s']['max'] or 0:.1f} s; complete max {r['complete_s']['max'] or 0:.1f} s; lost {r['lost']}, "
            f"duplicated {r['duplicated']}"
        )

    async def cleanup(self) -> None:
        await close_clients(self.sender, self.workers, wait=30)
        if self.nginx is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.nginx.stop, signal.SIGTERM, grace=10.0, check=False)
        for server in self.servers:
            await asyncio.to_thread(server.stop)


def tally(stories: list[dict[str, Any]], *, ok: dict[int, float], orphans: set[str], killed: float) -> dict[str, Any]:
    """Per orphaned tab, seconds from the kill to being back (page loaded and joined) and to holding every message
    posted before it was back; over all tabs, messages never had (lost) and messages had under two keys (stored
    twice, so shown twice)."""
    dropped: list[float] = []
    back: list[float] = []
    page: list[float] = []
    complete: list[float] = []
    lost = duplicated = stayed = 0
    failures: Counter[str] = Counter()
    lacking: Counter[str] = Counter()  # tabs that lack a message, by kind
    reasons: Counter[str] = Counter()  # why sockets dropped
    for tab in stories:
        seen = {int(n): at for n, at in tab["seen"].items()}
        missing = len(set(ok) - set(seen))
        lost += missing
        if missing:
            lacking["orphaned" if tab["route"] in orphans else "survivor's"] += 1
        duplicated += sum(1 for keys in tab["keys"].values() if len(keys) > 1)
        if tab["failure"]:
            failures[tab["failure"]] += 1
        reasons.update(tab["drop_reasons"])
        if tab["route"] not in orphans:
            stayed += 0 if tab["drops"] else 1
            continue
        after = [(loaded, joined) for loaded, joined in tab["reloads"] if loaded > killed]
        if not after:
            continue
        loaded, joined = after[0]
        dropped += [at - killed for at in tab["drops"] if at >= killed][:1]  # not a drop while it connected
        page.append(loaded - killed)
        back.append(joined - killed)
        earlier = [seen.get(n) for n, sent in ok.items() if sent <= joined]
        if all(at is not None for at in earlier):
            complete.append(max([joined, *(at for at in earlier if at is not None)]) - killed)
    orphaned = sum(1 for tab in stories if tab["route"] in orphans)
    return {
        "orphaned": orphaned,
        "back": len(back),
        "stayed": stayed,
        "survivor_tabs": len(stories) - orphaned,
        "dropped_s": summary(dropped),
        "page_s": summary(page),
        "back_s": summary(back),
        "complete_s": summary(complete),
        "complete_tabs": len(complete),
        "lost": lost,
        "duplicated": duplicated,
        "tabs_lacking": dict(lacking),
        "failures": dict(failures.most_common(5)),
        "drop_reasons": dict(reasons.most_common(5)),
    }


def run(config: StormConfig) -> dict[str, Any]:
    storm = Storm(config)
    log(f"storm: {config.tabs} tabs on each of two processes")
    started = time.monotonic()

    async def go() -> None:
        try:
            await asyncio.wait_for(storm.measure(), 300 + config.tabs * 1.5)
        except Exception as exc:
            storm.result["error"] = f"{type(exc).__name__}: {exc}"[:300]
        finally:
            await storm.cleanup()

    asyncio.run(go())
    storm.result["seconds"] = time.monotonic() - started
    storm.result["load_average"] = procstat.machine()["load_average"]
    return storm.result


def met(result: dict[str, Any]) -> bool | None:
    """The target: every orphaned tab back with every message within 20 s, 0 lost, 0 duplicated."""
    if result.get("error") or not result.get("orphaned"):
        return None
    worst = result["complete_s"]["max"]
    return (
        result["back"] == result["complete_tabs"] == result["orphaned"]
        and result["lost"] == 0 == result["duplicated"]
        and worst is not None
        and worst <= TARGET_SECONDS
    )


def target(result: dict[str, Any]) -> dict[str, Any]:
    """The row of the results' target table."""
    worst = result.get("complete_s", {}).get("max")
    by = "-" if worst is None else f"{worst:.1f} s"
    measured = (
        f"{result.get('back', 0)}/{result.get('orphaned', 0)} back, all messages by {by}, "
        f"{result.get('lost')} lost, {result.get('duplicated')} duplicated"
    )
    if result.get("error"):
        measured = f"error: {result['error']}"
    name = (
        f"restart storm ({result['tabs_per_process']} tabs per process): every orphaned tab back with every message "
        f"within {TARGET_SECONDS:.0f} s, 0 lost, 0 duplicated"
    )
    return {"target": name, "measured": measured, "met": met(result)}


def _s(stats: dict[str, Any]) -> str:
    if not stats.get("n"):
        return "-"
    return f"{stats['p50']:.1f} / {stats['p99']:.1f} / {stats['max']:.1f}"


def markdown(result: dict[str, Any]) -> str:
    """The storm's section of the results."""
    lines = [
        "## Restart storm",
        "",
        f"Two processes behind a private nginx (the repo's config), {result['tabs_per_process']} protocol-level tabs "
        f"on each (bench/tab.py, doing what nicegui.js does when its socket drops), {result['rate']:g} msg/s posted "
        "through the balancer (a post that found its process dead is retried with the same nonce); one process is "
        "SIGKILLed mid-stream. Times are seconds from the kill.",
        "",
    ]
    if result.get("error"):
        lines += [f"**The run failed:** {result['error']}", ""]
    if not result.get("orphaned"):
        return "\n".join(lines) + "\n"
    first = result.get("survivor_first_pages", {})
    calls = result.get("survivor_dynamodb_calls", {})
    lines += [
        "| | |",
        "|---|---|",
        f"| tabs orphaned / back on the survivor | {result['orphaned']} / {result['back']} |",
        f"| survivor's own tabs that stayed connected | {result['stayed']} / {result['survivor_tabs']} |",
        f"| page loaded, p50 / p99 / max | {_s(result['page_s'])} s |",
        f"| back (page + joined + history), p50 / p99 / max | {_s(result['back_s'])} s |",
        f"| every message posted before it was back, p50 / p99 / max | {_s(result['complete_s'])} s |",
        f"| messages posted (acknowledged) / retried posts | {result['posted_ok']} / {result['retried_posts']} |",
        f"| lost / shown twice, over all tabs | {result['lost']} / {result['duplicated']} |",
        f"| survivor CPU in the {TARGET_SECONDS:.0f} s after the kill | {result['survivor_cpu_cores']:.2f} cores |",
        f"| first pages served by the survivor: memory / DynamoDB | {first.get('memory', 0):.0f} / "
        f"{first.get('dynamodb', 0):.0f} |",
        "",
        f"DynamoDB calls by the survivor in the {TARGET_SECONDS:.0f} s after the kill, by operation and table, for "
        f"{result['back']} tabs in one room:",
        "",
        "| call | count | per tab back |",
        "|---|---:|---:|",
    ]
    for name, value in calls.items():
        lines.append(f"| {name} | {value:.0f} | {value / max(1, result['back']):.2f} |")
    if result.get("failures"):
        lines += ["", "Tabs that did not come back: " + "; ".join(f"{n}x {k}" for k, n in result["failures"].items())]
    lines += [
        "",
        "The history a reloaded tab shows comes from the survivor's memory of the room (`sinchchat_first_pages`), "
        "so Messages-table Queries follow the rooms (catch-up) and the sessions' unread counts, not the tabs' pages; "
        "what remains per tab is per session: its sign-in (Users) and its read markers (Markers).",
        "",
    ]
    return "\n".join(lines) + "\n"
