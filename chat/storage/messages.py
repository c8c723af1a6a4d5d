"""The Messages table: one partition per room, sorted by the message key; and the senders' idempotency ids.

Storing a message takes two conditional writes. First a record of its sender's idempotency id (its nonce), in a
partition of its own per sender (``nonce:<room>:<author id>``, a key no room can have), naming the key the server
chose for the message and expiring after a day; then the message under that key. A retry of the same nonce,
however late, finds the record and gets the message stored the first time instead of a second copy.

If an attempt stopped between the two writes, the retry finishes it under a new key of the current time (so
catch-up, which reads a short window back, finds it) and leaves a tombstone at the old key that points to the new
one: a late write of the old attempt then fails its condition, so the message can never be stored twice. Real
DynamoDB could do both writes in one transaction, but moto copies the whole table for every transaction, which
made embedded mode slower with every message stored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from ..errors import Conflict, StorageUnavailable
from ..models import Draft, KeyClock, Message, is_message_key, key_prefix, key_time
from .changes import MessageChanges
from .client import Dynamo, error_code
from .items import MOVED_TO, from_item, messages_of, string, to_item
from .schema import TTL_ATTRIBUTE, TableNames

log = logging.getLogger(__name__)

# how long a nonce is remembered: a browser that was offline for this long sends its pending message again
NONCE_TTL_SECONDS = 86_400
# a retry that meets other retries of the same nonce looks again this often before it gives up
_FINISH_TRIES = 5
# no message key sorts after this one; what does (letters, other scripts' digits) was written by hand
_LAST_KEY = "9999-12-31T23:59:59.999Z#ffffffffffffffff"
_SUFFIX_AT = len("YYYY-MM-DDTHH:MM:SS.mmmZ#")
# items the newest-key lookup reads per page: enough to step over a few tombstones in one round trip
_NEWEST_PAGE = 10


class _Exists(Exception):
    """A conditional write found its key taken."""


def _first_after(key: str) -> str:
    """The smallest key a message after ``key`` can have. Every message key has one shape, so after a message key
    ``> key`` is ``>= _first_after(key)``, which leaves out the malformed keys in between (``key`` and a newline)."""
    moment = key_time(key)
    if moment is None:  # not a message key, "" for nothing read yet; every message key starts with a digit
        return max(key, "0")
    if key >= _LAST_KEY:  # nothing can follow it
        return f"{key}0"
    suffix = int(key[_SUFFIX_AT:], 16) + 1
    if suffix < 1 << 64:
        return f"{key[:_SUFFIX_AT]}{suffix:016x}"
    return f"{key_prefix(moment + timedelta(milliseconds=1))}#{0:016x}"


def nonce_partition(room: str, author_id: str) -> str:
    return f"nonce:{room}:{author_id}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Page:
    """Messages oldest first; ``cursor`` is the key to pass as ``before`` for the next older page, None at the start."""

    messages: list[Message]
    cursor: str | None


class MessageStore:
    """Messages: idempotent writes, newest-first pages, reads after a key for catch-up, and counts after a key for
    unread badges. A message's key never changes; ``changes`` edits, deletes and reacts to it in its own item."""

    def __init__(self, *, db: Dynamo, tables: TableNames, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._table = tables.messages
        self._clock = clock
        self._keys = KeyClock()
        # edits, deletes and reactions, and the change feed that catch-up reads
        self.changes = MessageChanges(db=db, table=self._table, keys=self._keys, clock=clock)

    async def put(self, draft: Draft) -> Message:
        """Store ``draft`` under a key made now; the message stored, or the one stored earlier under its nonce.

        Raises Conflict when the nonce was used for a different text.
        """
        return await self._db.run(self._put, draft)

    def _put(self, draft: Draft) -> Message:
        message = self._message(draft)
        try:
            self._conditional_put(self._record_item(message), allow_expired=True)
        except _Exists:
            return self._earlier(draft)
        try:
            self._conditional_put(to_item(message))
        except _Exists:  # a retry took over this attempt meanwhile and moved the message
            return self._earlier(draft)
        return message

    def _earlier(self, draft: Draft) -> Message:
        """The message stored under ``draft``'s nonce, finishing an attempt that stopped half way."""
        for _ in range(_FINISH_TRIES):
            record = self._get(nonce_partition(draft.room, draft.author_id), draft.nonce)
            if record is None:  # expired between the two reads: a new attempt
                return self._put(draft)
            if string(record, "TextDigest") != _digest(draft.text):
                raise Conflict("That message id was already used for a different message. Send it with a new id.")
            key = string(record, "MessageKey")
            item = self._get(draft.room, key)
            if item is not None and MOVED_TO not in item:
                message = from_item(item)
                if message is None:
                    break
                return message
            # the message is missing (or moved): decide its new key once, in a tombstone at the old one
            moved_to = string(item, MOVED_TO) if item is not None else ""
            if not moved_to:
                moved_to = self._message(draft).key
                try:
                    self._conditional_put(self._tombstone(draft.room, key, moved_to))
                except _Exists:
                    continue  # the old attempt wrote it after all, or another retry moved it: look again
            self._repoint(draft, old=key, new=moved_to)
            message = dataclasses.replace(self._message(draft), key=moved_to)
            try:
                self._conditional_put(to_item(message))
            except _Exists:
                continue
            return message
        raise StorageUnavailable("The message store is inconsistent; try again in a moment.")

    def _message(self, draft: Draft) -> Message:
        return Message(
            room=draft.room,
            key=self._keys.key(datetime.fromtimestamp(self._clock(), UTC)),
            author=draft.author,
            author_id=draft.author_id,
            text=draft.text,
            nonce=draft.nonce,
        )

    def _record_item(self, message: Message) -> dict[str, dict[str, str]]:
        return {
            "PartitionKey": {"S": nonce_partition(message.room, message.author_id)},
            "CreatedAt": {"S": message.nonce},
            "MessageKey": {"S": message.key},
            "TextDigest": {"S": _digest(message.text)},
            TTL_ATTRIBUTE: {"N": str(int(self._clock()) + NONCE_TTL_SECONDS)},
        }

    def _tombstone(self, room: str, key: str, moved_to: str) -> dict[str, dict[str, str]]:
        return {
            "PartitionKey": {"S": room},
            "CreatedAt": {"S": key},
            MOVED_TO: {"S": moved_to},
            TTL_ATTRIBUTE: {"N": str(int(self._clock()) + NONCE_TTL_SECONDS)},
        }

    def _repoint(self, draft: Draft, *, old: str, new: str) -> None:
        """Point the nonce's record from ``old`` to ``new``; already done by another retry is fine."""
        try:
            self._db.client.update_item(
                TableName=self._table,
                Key={
                    "PartitionKey": {"S": nonce_partition(draft.room, draft.author_id)},
                    "CreatedAt": {"S": draft.nonce},
                },
                UpdateExpression="SET MessageKey = :new",
                ConditionExpression="MessageKey = :old",
                ExpressionAttributeValues={":new": {"S": new}, ":old": {"S": old}},
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise

    def _conditional_put(self, item: dict[str, dict[str, str]], *, allow_expired: bool = False) -> None:
        """Write ``item`` unless its key holds one (a live one, with ``allow_expired``); _Exists if it does."""
        args: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(CreatedAt)"}
        if allow_expired:
            args = {
                "ConditionExpression": "attribute_not_exists(CreatedAt) OR #exp <= :now",
                "ExpressionAttributeNames": {"#exp": TTL_ATTRIBUTE},
                "ExpressionAttributeValues": {":now": {"N": str(int(self._clock()))}},
            }
        try:
            self._db.client.put_item(TableName=self._table, Item=item, **args)
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise _Exists from None
            raise

    def _get(self, partition: str, key: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._db.client.get_item(
            TableName=self._table,
            Key={"PartitionKey": {"S": partition}, "CreatedAt": {"S": key}},
            ConsistentRead=True,
        ).get("Item")
        return item

    async def page(self, room: str, *, limit: int, before: str | None = None) -> Page:
        """Up to ``limit`` messages older than ``before`` (newest when None), as one Query."""
        args: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PartitionKey = :room",
            "ExpressionAttributeValues": {":room": {"S": room}},
            "ScanIndexForward": False,
            # one extra item tells whether anything older exists, so the cursor is exact at every edge
            "Limit": limit + 1,
        }
        if before is not None:
            args["ExclusiveStartKey"] = {"PartitionKey": {"S": room}, "CreatedAt": {"S": before}}
        response = await self._db.run(self._db.client.query, **args)
        items = response.get("Items", [])
        newest_first = items[:limit]
        more = len(items) > limit
        # the cursor is the raw key of the last item read, valid message or not, so a bad item is stepped over
        cursor = string(newest_first[-1], "CreatedAt") if more else None
        return Page(messages=messages_of(newest_first)[::-1], cursor=cursor)

    async def after(self, room: str, key: str, *, limit: int = 500) -> tuple[list[Message], str | None]:
        """Up to ``limit`` items with a key greater than ``key``, oldest first (for catch-up).

        Returns the messages among them and the key to read after next, None when nothing more is stored.
        """
        args: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PartitionKey = :room AND CreatedAt > :key",
            "ExpressionAttributeValues": {":room": {"S": room}, ":key": {"S": key}},
            "ScanIndexForward": True,
            "Limit": limit,
        }
        response = await self._db.run(self._db.client.query, **args)
        items = response.get("Items", [])
        more = "LastEvaluatedKey" in response and bool(items)
        return messages_of(items), (string(items[-1], "CreatedAt") if more else None)

    async def count_after(self, room: str, key: str, *, limit: int) -> int:
        """How many messages have a key greater than ``key``, counting at most ``limit`` (an unread count).

        Select=COUNT Queries, each asking for no more items than are left to count: at most ``limit`` items plus
        the tombstones met on the way are read, however long the room. DynamoDB drops the tombstones (a filter) and
        the keys no message can have that sort after every real one (the key range), but it allows no filter on a
        key: a hand-written item whose malformed key sorts among real ones (month 99) is counted until the marker
        passes it. Eventually consistent, at half the price: a message stored a moment ago is counted a moment later.
        """
        first = _first_after(key)
        counted = 0
        start: dict[str, Any] | None = None
        while room and first <= _LAST_KEY and counted < limit:
            args: dict[str, Any] = {
                "TableName": self._table,
                "KeyConditionExpression": "PartitionKey = :room AND CreatedAt BETWEEN :first AND :last",
                "FilterExpression": "attribute_not_exists(#moved)",
                "ExpressionAttributeNames": {"#moved": MOVED_TO},
                "ExpressionAttributeValues": {
                    ":room": {"S": room},
                    ":first": {"S": first},
                    ":last": {"S": _LAST_KEY},
                },
                "Select": "COUNT",
                # Limit bounds the items read, before the filter: a page never reads more than is left to count
                "Limit": limit - counted,
            }
            if start is not None:
                args["ExclusiveStartKey"] = start
            response = await self._db.run(self._db.client.query, **args)
            counted += int(response.get("Count", 0))
            start = response.get("LastEvaluatedKey")
            if start is None:
                break
        return min(counted, limit)

    async def newest_key(self, room: str) -> str | None:
        """The key of the newest message in ``room`` (strongly consistent), None when it holds none.

        DynamoDB drops tombstones and keys that sort after every message key, this code any other malformed key;
        pages go on until a message is found.
        """
        start: dict[str, Any] | None = None
        while room:
            args: dict[str, Any] = {
                "TableName": self._table,
                "KeyConditionExpression": "PartitionKey = :room AND CreatedAt <= :last",
                "FilterExpression": "attribute_not_exists(#moved)",
                "ProjectionExpression": "CreatedAt",
                "ExpressionAttributeNames": {"#moved": MOVED_TO},
                "ExpressionAttributeValues": {":room": {"S": room}, ":last": {"S": _LAST_KEY}},
                "ScanIndexForward": False,
                "ConsistentRead": True,
                "Limit": _NEWEST_PAGE,
            }
            if start is not None:
                args["ExclusiveStartKey"] = start
            response = await self._db.run(self._db.client.query, **args)
            for item in response.get("Items", []):
                key = string(item, "CreatedAt")
                if is_message_key(key):
                    return key
            start = response.get("LastEvaluatedKey")
            if start is None:
                break
        return None
