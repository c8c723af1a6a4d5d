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


async def _timed(store: MessageStore, room: str, befores: list[str | None], limit: int) -> list[float]:
    for before in befores[:_WARM_UP]:
        await store.page(room, limit=limit, before=before)
    times = []
    for before in befores:
        started = time.perf_counter()
        await store.page(room, limit=limit, before=before)
        times.append((time.perf_counter() - started) * 1000)
    return times


async def _measure(store: MessageStore, room: str, keys: list[str], samples: int, limit: int) -> dict[str, Any]:
    first = await store.page(room, limit=limit)
    deep = random.Random(7).sample(keys, min(samples, len(keys)))
    return {
        "first_page_ms": summary(await _timed(store, room, [None] * samples, limit)),
        "load_more_ms": summary(await _timed(store, room, [first.cursor] * samples, limit)),
        "load_more_deep_ms": summary(await _timed(store, room, list(deep), limit)),
    }


def run(db: Dynamo, tables: TableNames, *, sizes: list[int], samples: int) -> dict[str, Any]:
    """For each size: write that many messages into a room of their own, then time page reads."""
    limit = Settings().page_size  # the product's default page
    store = MessageStore(db=db, tables=tables)
    rooms: list[dict[str, Any]] = []
    for size in sizes:
        room = f"history{size}"
        items = messages(room, size, spacing=0.5)
        seconds = write(db, tables, items, threads=4)
        log(f"history: wrote {size} messages in {seconds:.1f} s")
        result = asyncio.run(_measure(store, room, [m.key for m in items], samples, limit))
        rooms.append({"messages": size, "write_seconds": seconds, **result})
    return {"page_size": limit, "samples": samples, "rooms": rooms}
