"""Chat views that record what reaches them, and how that compares with what DynamoDB holds."""

from __future__ import annotations

import asyncio
import bisect
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from chat.models import Message


def delivery_path() -> str:
    """Which way a batch reached the views, from the name of the asyncio task that is delivering it.

    The Bus names its tasks "subscriber <server>" (live through Redis) and "catch-up after subscribe" (which also
    primes a room when its first tab opens); the hub names "periodic catch-up". Anything else is the process's
    own send.
    """
    task = asyncio.current_task()
    name = task.get_name() if task is not None else ""
    if name.startswith("subscriber "):
        return "redis"
    if name == "catch-up after subscribe":
        return "reconnect_catch_up"
    if name == "periodic catch-up":
        return "periodic_catch_up"
    return "own_process"


@dataclass
class View:
    """A chat view (a tab) as the hub's sink feeds it: it records every batch it is handed.

    ``keys`` is what the view shows: like components.chat_panel.ChatPanel it places each key by order,
    because a message repaired by a catch-up is older than ones already shown. ``paths`` counts by which way
    each message first arrived.
    """

    name: str
    arrivals: list[str] = field(default_factory=list)
    batches: int = 0
    unsorted_batches: int = 0
    keys: list[str] = field(default_factory=list)
    paths: Counter[str] = field(default_factory=Counter)
    _shown: set[str] = field(default_factory=set)

    def __call__(self, messages: list[Message]) -> None:
        batch = [m.key for m in messages]
        path = delivery_path()
        self.batches += 1
        if batch != sorted(batch):
            self.unsorted_batches += 1
        for key in batch:
            self.arrivals.append(key)
            if key not in self._shown:
                self._shown.add(key)
                self.paths[path] += 1
                bisect.insort(self.keys, key)

    def has_all(self, keys: Iterable[str]) -> bool:
        return self._shown.issuperset(keys)


@dataclass(frozen=True)
class Tally:
    """How one view compares with what DynamoDB holds. All but ``late`` must be 0.

    ``late`` counts arrivals older than a key the view already had: catch-up repairs and the natural interleaving
    of two processes' sends. The hub promises key order within each batch, and the view places by key.
    """

    view: str
    stored: int
    received: int
    lost: int
    duplicated: int
    unexpected: int
    out_of_order: int
    late: int

    paths: str

    def line(self) -> str:
        return (
            f"{self.view}: stored={self.stored} received={self.received} lost={self.lost} "
            f"duplicated={self.duplicated} unexpected={self.unexpected} out_of_order={self.out_of_order} "
            f"late(repaired/interleaved)={self.late} arrived_by[{self.paths}]"
        )


def tally(view: View, stored_keys: list[str]) -> Tally:
    expected = set(stored_keys)
    arrived = set(view.arrivals)
    newest = ""
    late = 0
    for key in view.arrivals:
        if key < newest:
            late += 1
        newest = max(newest, key)
    shown_order_breaks = sum(1 for a, b in zip(view.keys, view.keys[1:], strict=False) if a >= b)
    return Tally(
        view=view.name,
        stored=len(stored_keys),
        received=len(view.arrivals),
        lost=len(expected - arrived),
        duplicated=len(view.arrivals) - len(arrived),
        unexpected=len(arrived - expected),
        out_of_order=view.unsorted_batches + shown_order_breaks + (0 if view.keys == stored_keys else 1),
        late=late,
        paths=" ".join(f"{path}={count}" for path, count in sorted(view.paths.items())),
    )
