"""Strongly consistent reads of single items, sent together: the reads asked for while one BatchGetItem is out go
out in the next one.

Every read still goes to DynamoDB after it was asked for, so it sees every write that finished before it was asked
(a session ended by a logout fails its next post); only the round trip is shared. Alone, a read goes at once, as
one GetItem would. Under load, 32 concurrent posts that each read their session cost a few BatchGetItem calls
instead of 32 GetItem calls: on the write path a botocore call costs about 0.5 ms of this process's CPU, more than
everything else a post does in DynamoDB.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ..errors import StorageUnavailable
from .client import UNAVAILABLE, Dynamo

# DynamoDB's limit of keys per BatchGetItem
BATCH_LIMIT = 100
# batches out at once: one at a time would make every read wait for the one before it under load
IN_FLIGHT = 4
# keys DynamoDB left unprocessed (throttling) are asked for again, this many times, backing off
_UNPROCESSED_TRIES = 5
UNPROCESSED_PAUSE = 0.05

Item = dict[str, Any]


class BatchedReads:
    """``get`` one item of ``table`` by its string hash key ``key_name``, consistently, batched with other gets."""

    def __init__(
        self,
        *,
        db: Dynamo,
        table: str,
        key_name: str,
        in_flight: int = IN_FLIGHT,
        unprocessed_pause: float = UNPROCESSED_PAUSE,
    ) -> None:
        self._db = db
        self._unprocessed_pause = unprocessed_pause
        self._table = table
        self._key_name = key_name
        self._waiting: dict[str, list[asyncio.Future[Item | None]]] = {}
        self._senders: set[asyncio.Task[None]] = set()
        self._in_flight = in_flight

    async def get(self, key: str) -> Item | None:
        """The item with hash key ``key``, or None; StorageUnavailable when DynamoDB cannot say."""
        future: asyncio.Future[Item | None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(future)
        if len(self._senders) < self._in_flight:
            sender = asyncio.create_task(self._send())
            self._senders.add(sender)
            sender.add_done_callback(self._senders.discard)
        return await future

    async def _send(self) -> None:
        while self._waiting:
            keys = list(self._waiting)[:BATCH_LIMIT]
            waiting = {key: self._waiting.pop(key) for key in keys}
            try:
                items = await self._db.run(self._batch_get, keys)
            except Exception as exc:  # every read of the batch fails as its own GetItem would have
                for futures in waiting.values():
                    for future in futures:
                        if not future.done():
                            future.set_exception(exc)
                continue
            for key, futures in waiting.items():
                for future in futures:
                    if not future.done():
                        future.set_result(items.get(key))

    def _batch_get(self, keys: list[str]) -> dict[str, Item]:
        """Run on a storage thread: the items found, by key."""
        found: dict[str, Item] = {}
        request: dict[str, Any] = {
            self._table: {"Keys": [{self._key_name: {"S": key}} for key in keys], "ConsistentRead": True}
        }
        for attempt in range(_UNPROCESSED_TRIES):
            response = self._db.client.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(self._table, []):
                found[item[self._key_name]["S"]] = item
            request = dict(response.get("UnprocessedKeys") or {})
            if not request:
                return found
            time.sleep(self._unprocessed_pause * (attempt + 1))
        raise StorageUnavailable(UNAVAILABLE)
