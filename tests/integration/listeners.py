"""A started Bus on real Redis and what reached it, for the bus's own tests; and what the servers say of it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from chat.bus import Bus
from chat.bus.placement import SUBSCRIBER_NAME
from chat.bus.subscription import open_client
from chat.events import Event
from chat.metrics import Metrics
from chat.models import Message, new_message_key
from tests.conftest import BUS_KEY


def message(room: str, text: str) -> Message:
    return Message(room=room, key=new_message_key(), author="Alice", author_id="a1", text=text)


class Listener:
    """A bus whose Redis client is made as chat.runtime.Runtime makes it; once started, it records the events that
    reach it with their room, and each (re)subscription's room with the time it came."""

    def __init__(self, url: str, *, cluster: bool = False, namespace: str = "", metrics: Metrics | None = None) -> None:
        self.bus = Bus(redis=open_client(url, cluster=cluster), key=BUS_KEY, namespace=namespace, metrics=metrics)
        self.events: list[tuple[str | None, Event]] = []
        self.subscribed: list[tuple[str | None, float]] = []

    async def _subscribed(self, room: str | None) -> None:
        self.subscribed.append((room, time.monotonic()))

    def start(self) -> None:
        self.bus.start(on_event=lambda room, event: self.events.append((room, event)), on_subscribed=self._subscribed)

    def subscriptions(self, room: str | None) -> int:
        return sum(1 for r, _ in self.subscribed if r == room)

    def last_subscribed(self, room: str | None) -> float:
        return max(at for r, at in self.subscribed if r == room)

    def of(self, room: str | None) -> list[Event]:
        return [event for r, event in self.events if r == room]


async def subscriber_connections(url: str) -> list[dict[str, str]]:
    """The clients of the server at ``url`` that are a bus's subscriber connections or hold a subscription
    (CLIENT LIST), each as its fields."""
    admin = Redis.from_url(url)
    try:
        clients = await admin.client_list()
    finally:
        await admin.aclose()
    return [c for c in clients if c["name"] == SUBSCRIBER_NAME or int(c["sub"]) + int(c.get("ssub", 0)) > 0]


async def subscribers(url: str, channels: list[str], *, sharded: bool = False) -> list[int]:
    """How many clients of the server at ``url`` subscribe to each channel (PUBSUB NUMSUB / SHARDNUMSUB)."""
    admin = Redis.from_url(url)
    try:
        counts = await (admin.pubsub_shardnumsub if sharded else admin.pubsub_numsub)(*channels)
        return [int(count) for _, count in counts]
    finally:
        await admin.aclose()


async def eventually(check: Callable[[], Awaitable[bool]], *, timeout: float, interval: float = 0.02) -> bool:
    """Ask ``check`` (which asks a server) until it says yes; whether it did within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(interval)
    return True
