"""The ReadMarkers table: for each reader and room, the newest message key the reader has seen there.

    Reader=<reader>, Room=<room id>, Key=<message key>, ExpiresAt=<unix time, the TTL>

A reader's tabs advance its markers concurrently and in any order; the update's condition lets only a newer key
through, so the newest key seen wins whatever order the writes land in. An unread count is then
MessageStore.count_after(room, marker). Markers expire with their reader, so the table does not keep every reader
that ever was.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ..errors import InvalidInput
from ..models import is_message_key
from .client import Dynamo, error_code
from .schema import TTL_ATTRIBUTE, TableNames

# "Key" is a reserved word in DynamoDB expressions, so attributes go by placeholders
_NAMES = {"#key": "Key", "#exp": TTL_ATTRIBUTE}
# newer key; or the same key again, which only pushes the expiry on (a reader coming back to a quiet room)
_FORWARD = "attribute_not_exists(#key) OR #key < :key OR (#key = :key AND #exp < :exp)"


def _string(item: dict[str, Any], name: str) -> str:
    value = item.get(name, {}).get("S", "")
    return value if isinstance(value, str) else ""


class MarkerStore:
    """Read markers that only move forward, read back per reader."""

    def __init__(self, *, db: Dynamo, tables: TableNames) -> None:
        self._db = db
        self._table = tables.markers

    async def advance(self, reader: str, room: str, key: str, *, expires_at: int) -> None:
        """Set the reader's marker in ``room`` to ``key`` unless it is already at a newer key.

        Raises InvalidInput for a ``key`` that is no message key: a marker set past every key could never move again.
        """
        if not reader or not room or not is_message_key(key):
            raise InvalidInput("A read marker needs a reader, a room and a message key.")

        def update() -> None:
            try:
                self._db.client.update_item(
                    TableName=self._table,
                    Key={"Reader": {"S": reader}, "Room": {"S": room}},
                    UpdateExpression="SET #key = :key, #exp = :exp",
                    ConditionExpression=_FORWARD,
                    ExpressionAttributeNames=_NAMES,
                    ExpressionAttributeValues={":key": {"S": key}, ":exp": {"N": str(expires_at)}},
                )
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":  # already at a newer key: nothing to do
                    raise

        await self._db.run(update)

    async def of_reader(self, reader: str) -> dict[str, str]:
        """The reader's markers, room -> key: one strongly consistent Query, paged.

        An item without a room or a valid key (written by hand) is skipped: that room counts as never read.
        """
        markers: dict[str, str] = {}
        if not reader:
            return markers
        start: dict[str, Any] | None = None
        while True:
            args: dict[str, Any] = {
                "TableName": self._table,
                "KeyConditionExpression": "#reader = :reader",
                "ExpressionAttributeNames": {"#reader": "Reader"},
                "ExpressionAttributeValues": {":reader": {"S": reader}},
                "ConsistentRead": True,
            }
            if start is not None:
                args["ExclusiveStartKey"] = start
            response = await self._db.run(self._db.client.query, **args)
            for item in response.get("Items", []):
                room, key = _string(item, "Room"), _string(item, "Key")
                if room and is_message_key(key):
                    markers[room] = key
            start = response.get("LastEvaluatedKey")
            if start is None:
                return markers
