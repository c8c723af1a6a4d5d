"""Client processes: each holds a share of the tabs, so the client side does not starve on one event loop.

The orchestrator talks to a worker over a Pipe with small commands; every answer carries the worker's CPU time.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import multiprocessing
import re
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import httpx

from .sender import Sender
from .tab import Tab, TabSpec

_ACK_INTERVAL = 3.0  # nicegui.js: setInterval(() => ack(), 3000)


@dataclass(slots=True)
class ChurnOrder:
    spec: TabSpec
    prefix: str  # the names of the new tabs' people
    rate: float  # tabs closed and opened per second
    seconds: float
    timeout: float


@dataclass(slots=True)
class OpenOrder:
    spec: TabSpec
    names: list[str]
    concurrency: int
    timeout: float
    paths: list[str] | None = None  # the page of each name's tab, when they differ (tabs spread over rooms)
    route: str = ""  # the load balancer's sticky cookie for these tabs: which process they land on


class _Worker:
    def __init__(self) -> None:
        self.tabs: list[Tab] = []
        self.signed_in: list[Tab] = []  # tabs whose person has a cookie, waiting for ``storm`` to open them
        self._acker: asyncio.Task[None] | None = None

    async def sign_in(self, order: OpenOrder) -> dict[str, Any]:
        """Log the people of ``order.names`` in (before anything is measured); ``storm`` opens their tabs."""
        limit = asyncio.Semaphore(order.concurrency)
        async with httpx.AsyncClient(base_url=order.spec.base_url, timeout=order.timeout, trust_env=False) as http:

            async def one(name: str) -> Tab:
                tab = Tab(name=name, spec=order.spec)
                if order.spec.login:
                    async with limit:
                        await tab.sign_in(http)
                return tab

            self.signed_in = list(await asyncio.gather(*(one(name) for name in order.names)))
        return {"ok": len(self.signed_in)}

    async def storm(self, concurrency: int, wait: float) -> dict[str, Any]:
        """Open every signed-in tab, ``concurrency`` at a time; each tab's times from its page request."""
        limit = asyncio.Semaphore(concurrency)
        errors: list[str] = []
        spec = self.signed_in[0].spec if self.signed_in else None
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        started = time.monotonic()
        async with httpx.AsyncClient(
            base_url=spec.base_url if spec else "", limits=limits, timeout=wait, trust_env=False
        ) as http:

            async def one(tab: Tab) -> None:
                async with limit:
                    try:
                        await asyncio.wait_for(tab.open(http, wait=wait), wait * 2)
                    except Exception as exc:
                        errors.append(f"{type(exc).__name__}: {exc}"[:200])
                        await tab.close()
                        return
                self.tabs.append(tab)

            await asyncio.gather(*(one(tab) for tab in self.signed_in))
        times = [
            [tab.page_seconds, tab.connected_seconds, tab.joined_seconds, tab.history_in_page]
            for tab in self.signed_in
            if tab.connected_seconds is not None
        ]
        self.signed_in = []
        if self._acker is None:
            self._acker = asyncio.create_task(self._ack_forever())
        seconds = time.monotonic() - started
        return {"ok": len(times), "failed": len(errors), "errors": errors[:5], "seconds": seconds, "times": times}

    async def open(self, order: OpenOrder) -> dict[str, Any]:
        started = time.monotonic()
        limit = asyncio.Semaphore(order.concurrency)
        errors: list[str] = []
        limits = httpx.Limits(max_connections=order.concurrency, max_keepalive_connections=order.concurrency)
        async with httpx.AsyncClient(
            base_url=order.spec.base_url, limits=limits, timeout=order.timeout, trust_env=False
        ) as http:

            async def one(name: str, path: str | None) -> None:
                spec = order.spec if path is None else dataclasses.replace(order.spec, path=path)
                tab = Tab(name=name, spec=spec, route=order.route)
                async with limit:
                    try:
                        await asyncio.wait_for(tab.open(http, wait=order.timeout), order.timeout * 2)
                    except Exception as exc:
                        errors.append(f"{type(exc).__name__}: {exc}"[:200])
                        await tab.close()
                        return
                self.tabs.append(tab)

            paths: list[str | None] = [*order.paths] if order.paths else [None] * len(order.names)
            await asyncio.gather(*(one(name, path) for name, path in zip(order.names, paths, strict=True)))
        if self._acker is None:
            self._acker = asyncio.create_task(self._ack_forever())
        seconds = time.monotonic() - started
        return {"ok": len(self.tabs), "failed": len(errors), "errors": errors[:5], "seconds": seconds}

    async def _ack_forever(self) -> None:
        while True:
            await asyncio.sleep(_ACK_INTERVAL)
            await asyncio.gather(*(tab.ack() for tab in self.tabs))

    def arm(self, pattern: str, path: str | None = None) -> dict[str, Any]:
        """Look for ``pattern`` in what the tabs of page ``path`` (every tab for None) receive from now on; returns
        how many of those are live."""
        compiled = re.compile(pattern)
        armed = [tab for tab in self.tabs if path is None or tab.spec.path == path]
        for tab in self.tabs:
            tab.seen.clear()
            tab.activity = 0
            tab.presence = 0
            tab.pattern = None
        for tab in armed:
            tab.pattern = compiled
        return {"live": sum(1 for tab in armed if tab.dropped_at is None)}

    def live(self) -> int:
        return sum(1 for tab in self.tabs if tab.dropped_at is None)

    def count(self) -> dict[str, Any]:
        return {
            "seen": sum(len(tab.seen) for tab in self.tabs),
            "live": self.live(),
            "activity": sum(tab.activity for tab in self.tabs),
            "presence": sum(tab.presence for tab in self.tabs if tab.dropped_at is None),
            "presence_tabs": sum(1 for tab in self.tabs if tab.dropped_at is None and tab.presence),
        }

    def collect(self) -> dict[str, Any]:
        return {
            "seen": [dict(tab.seen) for tab in self.tabs],
            "dropped_at": [tab.dropped_at for tab in self.tabs if tab.dropped_at is not None],
            "live": self.live(),
        }

    def stories(self) -> dict[str, Any]:
        """Each tab's story: what it saw and when, with which keys, when it dropped, its reloads, its failure."""
        return {
            "tabs": [
                {
                    "route": tab.route,
                    "seen": dict(tab.seen),
                    "keys": {number: sorted(keys) for number, keys in tab.keys.items()},
                    "reloads": list(tab.reloads),
                    "drops": list(tab.drops),
                    "drop_reasons": list(tab.drop_reasons),
                    "failure": tab.failure,
                }
                for tab in self.tabs
            ]
        }

    async def churn(self, order: ChurnOrder) -> dict[str, Any]:
        """Close the oldest tab and open a new one, ``order.rate`` times a second for ``order.seconds``: people
        arriving and leaving, each change on time however long a page takes to load."""
        counts = {"opened": 0, "closed": 0, "failed": 0}
        started = time.monotonic()
        async with httpx.AsyncClient(base_url=order.spec.base_url, timeout=order.timeout, trust_env=False) as http:

            async def one(i: int) -> None:
                if self.tabs:
                    oldest = self.tabs.pop(0)
                    await oldest.close()
                    counts["closed"] += 1
                tab = Tab(name=f"{order.prefix}{i}", spec=order.spec)
                try:
                    await asyncio.wait_for(tab.open(http, wait=order.timeout), order.timeout)
                except Exception:
                    counts["failed"] += 1
                    await tab.close()
                    return
                self.tabs.append(tab)
                counts["opened"] += 1

            changes = []
            for i in range(int(order.rate * order.seconds)):
                await asyncio.sleep(max(0.0, started + i / order.rate - time.monotonic()))
                changes.append(asyncio.create_task(one(i)))
            await asyncio.gather(*changes)
        return {**counts, "seconds": time.monotonic() - started}

    async def close(self) -> dict[str, Any]:
        if self._acker is not None:
            self._acker.cancel()
        await asyncio.gather(*(tab.close() for tab in self.tabs))
        return {}


async def _serve(conn: Connection) -> None:
    worker = _Worker()
    loop = asyncio.get_running_loop()
    while True:
        command, argument = await loop.run_in_executor(None, conn.recv)
        if command == "open":
            answer = await worker.open(argument)
        elif command == "sign_in":
            answer = await worker.sign_in(argument)
        elif command == "storm":
            answer = await worker.storm(*argument)
        elif command == "arm":
            answer = worker.arm(*argument)
        elif command == "churn":
            answer = await worker.churn(argument)
        elif command == "count":
            answer = worker.count()
        elif command == "collect":
            answer = worker.collect()
        elif command == "stories":
            answer = worker.stories()
        elif command == "close":
            answer = await worker.close()
        else:
            answer = {"error": f"unknown command {command!r}"}
        answer["cpu"] = time.process_time()
        conn.send(answer)
        if command == "close":
            return


def _main(conn: Connection) -> None:
    try:
        import uvloop  # the clients are not what is measured: the cheaper they run, the less they disturb

        uvloop.run(_serve(conn))
    except ImportError:
        asyncio.run(_serve(conn))


class WorkerHandle:
    """The orchestrator's side of one client process."""

    def __init__(self, context: multiprocessing.context.SpawnContext) -> None:
        self._conn, child = context.Pipe()
        self.process = context.Process(target=_main, args=(child,), daemon=True)
        self.process.start()
        child.close()

    async def call(self, command: str, argument: Any = None, *, wait: float = 60.0) -> dict[str, Any]:
        """Send a command and wait for its answer; raises TimeoutError when the worker does not answer in time."""
        self._conn.send((command, argument))

        def receive() -> dict[str, Any]:
            if not self._conn.poll(wait):
                raise TimeoutError(f"client process did not answer {command!r} within {wait:.0f} s")
            answer: dict[str, Any] = self._conn.recv()
            return answer

        return await asyncio.get_running_loop().run_in_executor(None, receive)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._conn.close()
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)


async def close_clients(sender: Sender | None, workers: list[WorkerHandle], *, wait: float) -> None:
    """The end of a measurement's client side: the sender's connections, every tab, every client process."""
    if sender is not None:
        with contextlib.suppress(Exception):
            await sender.close()
    for worker in workers:
        with contextlib.suppress(Exception):
            await worker.call("close", wait=wait)
    for worker in workers:
        await asyncio.to_thread(worker.stop)
