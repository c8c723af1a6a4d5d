"""Messages written straight into the Messages table (batch writes), with keys made like the app makes them."""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from chat.models import Message, new_message_key
from chat.storage import Dynamo, TableNames, connect, ensure_tables
from chat.storage.items import to_item  # the table's item shape, kept in one place

from .serverproc import Backends

_BATCH = 25  # DynamoDB's limit per BatchWriteItem


def open_tables(backends: Backends, region: str = "us-east-1") -> tuple[Dynamo, TableNames]:
    db = connect(endpoint=backends.dynamodb_endpoint, region=region, workers=8)
    tables = TableNames.with_prefix(backends.table_prefix)
    ensure_tables(db, tables)
    return db, tables


def messages(room: str, count: int, *, newest: datetime | None = None, spacing: float = 1.0) -> list[Message]:
    """``count`` messages ending at ``newest``, ``spacing`` seconds apart, each about 90 characters."""
    end = newest or datetime.now(UTC) - timedelta(minutes=5)
    return [
        Message(
            room=room,
            key=new_message_key(end - timedelta(seconds=spacing * (count - i))),
            author=f"writer {i % 97}",
            author_id=f"writer-{i % 97}",
            text=f"history message {i}: the quick brown fox jumps over the lazy dog, twice over.",
        )
        for i in range(count)
    ]


def write(db: Dynamo, tables: TableNames, items: list[Message], *, threads: int = 4) -> float:
    """Write the messages with batch writes on ``threads`` threads; returns the seconds it took."""
    started = time.monotonic()
    batches = [items[i : i + _BATCH] for i in range(0, len(items), _BATCH)]

    def put(batch: list[Message]) -> None:
        requests: Any = [{"PutRequest": {"Item": to_item(m)}} for m in batch]
        pause = 0.05
        while requests:
            answer = db.client.batch_write_item(RequestItems={tables.messages: requests})
            requests = answer.get("UnprocessedItems", {}).get(tables.messages, [])
            if requests:
                time.sleep(pause)
                pause = min(pause * 2, 1.0)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(put, batches))
    return time.monotonic() - started


def drop_tables(db: Dynamo, tables: TableNames) -> None:
    """DynamoDB Local keeps everything in memory and is shared: leave nothing behind."""
    for name in (tables.users, tables.messages, tables.rooms, tables.markers):
        with contextlib.suppress(Exception):  # already gone, or the service went away: nothing else to do
            db.client.delete_table(TableName=name)
