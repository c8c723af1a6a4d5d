"""The Messages table: one partition per room, sorted by the message key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ..errors import Conflict
from ..models import Message
from .client import Dynamo, error_code
from .schema import TableNames


def _to_item(message: Message) -> dict[str, dict[str, str]]:
    return {
        "PartitionKey": {"S": message.room},
        "CreatedAt": {"S": message.key},
        "UserName": {"S": message.author_key},
        "DisplayName": {"S": message.author},
        "Text": {"S": message.text},
    }


def _from_item(item: dict[str, Any]) -> Message:
    return Message(
        room=item["PartitionKey"]["S"],
        key=item["CreatedAt"]["S"],
        author=item["DisplayName"]["S"],
        author_key=item["UserName"]["S"],
        text=item["Text"]["S"],
    )


@dataclass(frozen=True, slots=True)
class Page:
    """Messages oldest first; ``cursor`` is the key to pass as ``before`` for the next older page, None at the start."""

    messages: list[Message]
    cursor: str | None


class MessageStore:
    """Append-only messages: conditional puts, newest-first pages, and reads after a key for catch-up."""

    def __init__(self, *, db: Dynamo, tables: TableNames) -> None:
        self._db = db
        self._table = tables.messages

    async def put(self, message: Message) -> bool:
        """Store ``message``; True if written now, False if this very message was already stored (a retry).

        The write never overwrites: a key that holds a different message raises Conflict. Sending it again would
        meet the same message, so the caller must not retry it as if the store were down.
        """

        def put() -> bool:
            try:
                self._db.client.put_item(
                    TableName=self._table,
                    Item=_to_item(message),
                    ConditionExpression="attribute_not_exists(CreatedAt)",
                )
                return True
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
            stored = self._db.client.get_item(
                TableName=self._table,
                Key={"PartitionKey": {"S": message.room}, "CreatedAt": {"S": message.key}},
                ConsistentRead=True,
            ).get("Item")
            if stored is not None and _from_item(stored) == message:
                return False
            raise Conflict("That message id was already used for a different message. Send yours without it.")

        return await self._db.run(put)

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
        items = [_from_item(item) for item in response.get("Items", [])]
        newest_first = items[:limit]
        more = len(items) > limit
        return Page(messages=newest_first[::-1], cursor=newest_first[-1].key if more else None)

    async def after(self, room: str, key: str, *, limit: int = 500) -> list[Message]:
        """Up to ``limit`` messages with a key greater than ``key``, oldest first (for catch-up)."""
        found: list[Message] = []
        start: dict[str, Any] | None = None
        while len(found) < limit:
            args: dict[str, Any] = {
                "TableName": self._table,
                "KeyConditionExpression": "PartitionKey = :room AND CreatedAt > :key",
                "ExpressionAttributeValues": {":room": {"S": room}, ":key": {"S": key}},
                "ScanIndexForward": True,
                "Limit": limit - len(found),
            }
            if start is not None:
                args["ExclusiveStartKey"] = start
            response = await self._db.run(self._db.client.query, **args)
            found.extend(_from_item(item) for item in response.get("Items", []))
            start = response.get("LastEvaluatedKey")
            if start is None:
                break
        return found
