"""History pages on DynamoDB Local: the first page and Load more, with small and large rooms.

Times ``MessageStore.page()`` as the chat view calls it (through the storage thread pool), so the numbers include
the hop off the event loop, botocore's request and parsing, and DynamoDB Local's query.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from chat.settings import Settings
from chat.storage import Dynamo, MessageStore, TableNames

from .fanout import log
from .seed import messages, write
from .stats import summary

_WARM_UP = 10
_KINDS = ("first_page_ms", "load_more_ms", "load_more_deep_ms")


async def _measure(store: MessageStore, rooms: dict[str, list[str]], samples: int, limit: int) -> dict[str, Any]:
    """Time every kind of read in every room, the rooms taking turns call by call.

    Taking turns means a slow moment of the machine (other users, DynamoDB Local's garbage collector) falls on
    every room alike, so the ratio between rooms is not at the mercy of when each room was measured.
    """
    befores: dict[str, dict[str, list[str | None]]] = {}
    for room, keys in rooms.items():
        first = await store.page(room, limit=limit)
        deep: list[str | None] = list(random.Random(7).sample(keys, min(samples, len(keys))))
        befores[room] = {
            "first_page_ms": [None] * samples,
            "load_more_ms": [first.cursor] * samples,
            "load_more_deep_ms": deep,
        }
    times: dict[str, dict[str, list[float]]] = {room: {kind: [] for kind in _KINDS} for room in rooms}
    for kind in _KINDS:
        for i in range(-_WARM_UP, samples):
            for room in rooms:
                before = befores[room][kind][i % len(befores[room][kind])]
                started = time.perf_counter()
                await store.page(room, limit=limit, before=before)
                if i >= 0:
                    times[room][kind].append((time.perf_counter() - started) * 1000)
    return {room: {kind: summary(values) for kind, values in kinds.items()} for room, kinds in times.items()}


def run(db: Dynamo, tables: TableNames, *, sizes: list[int], samples: int) -> dict[str, Any]:
    """Write each size's messages into a room of its own, then time page reads in all rooms, taking turns."""
    limit = Settings().page_size  # the product's default page
    store = MessageStore(db=db, tables=tables)
    keys: dict[str, list[str]] = {}
    written: dict[str, float] = {}
    for size in sizes:
        room = f"history{size}"
        items = messages(room, size, spacing=0.5)
        written[room] = write(db, tables, items, threads=4)
        keys[room] = [m.key for m in items]
        log(f"history: wrote {size} messages in {written[room]:.1f} s")
    measured = asyncio.run(_measure(store, keys, samples, limit))
    rooms = [
        {"messages": size, "write_seconds": written[f"history{size}"], **measured[f"history{size}"]} for size in sizes
    ]
    return {"page_size": limit, "samples": samples, "rooms": rooms}
