"""The Rooms table: every room is two items, written together in one transaction.

    Scope="room",      RoomKey=<room id>         Name, CreatedAt, CreatedBy
    Scope="lookalike", RoomKey=<look-alike key>  Room=<room id>

Each put holds only where nothing is stored yet, so of concurrent creates of one name, or of two names that look
alike, exactly one wins. The caller computes the room id and the look-alike key; this module only stores strings.

Every room sits in the one "room" partition, so listing is a Query in id order and never a Scan. One partition
serves about 3,000 read units per second: at some 100 bytes a room, about 2,000 lists of 100 rooms. A list is
worth caching, not repeating per tab.
"""

from __future__ import annotations

import asyncio
import builtins
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from ..errors import Conflict, InvalidInput, RoomLookAlike
from ..models import key_prefix
from .client import Dynamo, error_code
from .schema import TableNames

ROOM_SCOPE = "room"
LOOKALIKE_SCOPE = "lookalike"
# concurrent creates of one name can cancel each other's transactions; a few retries let one of them win
_CONFLICT_RETRIES = 5
_FAILED = "ConditionalCheckFailed"


@dataclass(frozen=True, slots=True)
class RoomRecord:
    """A room: its id (the ``<room>`` of ``/r/<room>``), its name as its creator typed it, and when (ISO, UTC)."""

    id: str
    name: str
    created_at: str


def _string(item: dict[str, Any], name: str) -> str:
    value = item.get(name, {}).get("S", "")
    return value if isinstance(value, str) else ""


def _record(item: dict[str, Any]) -> RoomRecord:
    """The room an item holds; one written by hand without a name is shown under its id rather than breaking a list."""
    room_id = _string(item, "RoomKey")
    return RoomRecord(id=room_id, name=_string(item, "Name") or room_id, created_at=_string(item, "CreatedAt"))


class RoomStore:
    """Rooms, created once per name and look-alike, read one at a time or listed in id order."""

    def __init__(self, *, db: Dynamo, tables: TableNames, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._table = tables.rooms
        self._clock = clock

    async def create(self, *, room_id: str, name: str, lookalike: str, created_by: str) -> tuple[RoomRecord, bool]:
        """Create the room; (the room, True) if this call made it, (the room already stored, False) if its id was
        taken: a name already taken leads people to that room.

        Raises RoomLookAlike when another room holds ``lookalike``.
        """
        if not room_id or not lookalike:
            raise InvalidInput("A room needs a name.")
        for attempt in range(_CONFLICT_RETRIES):
            outcome = await self._db.run(self._create, room_id, name, lookalike, created_by)
            if outcome is not None:
                return outcome
            await asyncio.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
        raise Conflict("Someone is creating a room with this name right now. Try again in a moment.")

    def _create(self, room_id: str, name: str, lookalike: str, created_by: str) -> tuple[RoomRecord, bool] | None:
        """One attempt; None when a concurrent transaction cancelled it before either condition was decided."""
        room = RoomRecord(id=room_id, name=name, created_at=key_prefix(datetime.fromtimestamp(self._clock(), UTC)))
        room_item = {
            "Scope": {"S": ROOM_SCOPE},
            "RoomKey": {"S": room_id},
            "Name": {"S": name},
            "CreatedAt": {"S": room.created_at},
            "CreatedBy": {"S": created_by},
        }
        lookalike_item = {"Scope": {"S": LOOKALIKE_SCOPE}, "RoomKey": {"S": lookalike}, "Room": {"S": room_id}}
        try:
            self._db.client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": room_item,
                            "ConditionExpression": "attribute_not_exists(RoomKey)",
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": lookalike_item,
                            # held by this very room is no conflict: its room item decides, and a look-alike item
                            # left without its room (written by hand) does not lock the name forever
                            "ConditionExpression": "attribute_not_exists(RoomKey) OR #room = :room",
                            "ExpressionAttributeNames": {"#room": "Room"},
                            "ExpressionAttributeValues": {":room": {"S": room_id}},
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                ]
            )
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            reasons: list[dict[str, Any]] = exc.response.get("CancellationReasons", [])  # type: ignore[assignment]
            codes = [reason.get("Code") for reason in reasons]
            if len(codes) != 2:
                raise
            if codes[0] == _FAILED:  # the id is taken: that room is the answer
                existing = self._room(reasons[0].get("Item"), room_id)
                return None if existing is None else (existing, False)
            if "TransactionConflict" in codes:  # whether the id is free is not known yet: ask again
                return None
            if codes[1] == _FAILED:
                raise self._lookalike(reasons[1].get("Item"), lookalike) from None
            raise
        return room, True

    def _room(self, item: dict[str, Any] | None, room_id: str) -> RoomRecord | None:
        """The room in a cancelled transaction's answer, or read again where the answer left it out."""
        if item is None:
            item = self._get(ROOM_SCOPE, room_id)
        return None if item is None else _record(item)

    def _lookalike(self, item: dict[str, Any] | None, lookalike: str) -> RoomLookAlike:
        """The refusal naming the room that holds ``lookalike``."""
        if item is None:
            item = self._get(LOOKALIKE_SCOPE, lookalike) or {}
        holder = _string(item, "Room")
        existing = self._room(None, holder) if holder else None
        if existing is None:
            return RoomLookAlike(existing_id=holder, existing_name=holder or lookalike)
        return RoomLookAlike(existing_id=existing.id, existing_name=existing.name)

    def _get(self, scope: str, key: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._db.client.get_item(
            TableName=self._table,
            Key={"Scope": {"S": scope}, "RoomKey": {"S": key}},
            ConsistentRead=True,
        ).get("Item")
        return item

    async def get(self, room_id: str) -> RoomRecord | None:
        """The room with this id (strongly consistent read), or None."""
        if not room_id:
            return None
        item = await self._db.run(self._get, ROOM_SCOPE, room_id)
        return None if item is None else _record(item)

    async def list(self, *, limit: int) -> builtins.list[RoomRecord]:
        """Up to ``limit`` rooms in id order: Queries of the room scope, following LastEvaluatedKey (DynamoDB ends a
        page at 1 MB) until ``limit`` rooms are read or none are left."""
        rooms: builtins.list[RoomRecord] = []
        start: dict[str, Any] | None = None
        while len(rooms) < limit:
            args: dict[str, Any] = {
                "TableName": self._table,
                "KeyConditionExpression": "#scope = :scope",
                "ExpressionAttributeNames": {"#scope": "Scope"},
                "ExpressionAttributeValues": {":scope": {"S": ROOM_SCOPE}},
                "ScanIndexForward": True,
                "Limit": limit - len(rooms),
                # eventually consistent, at half the price: a room made a moment ago may show a moment later
            }
            if start is not None:
                args["ExclusiveStartKey"] = start
            response = await self._db.run(self._db.client.query, **args)
            rooms += [_record(item) for item in response.get("Items", [])]
            start = response.get("LastEvaluatedKey")
            if start is None:
                break
        return rooms[:limit]
