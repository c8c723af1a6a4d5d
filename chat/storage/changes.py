"""Edits, deletes and reactions: conditional UpdateItems on a message's own item, and the change feed.

Every change that is stored adds one to the item's ``Version`` and gives it a new ``ChangedAt``, a key made by the
same clock as message keys. Only changed items carry ``ChangedAt``, so the sparse index on (room, ChangedAt) holds
exactly the changes, in the order they were made: catch-up reads it after a floor, as it reads new keys.

A change that would change nothing (a reaction already there or already gone, an edit to the same text) fails its
condition and bumps nothing; the item is then read once to tell why (no such message, someone else's, deleted) or to
return it as is.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from ..errors import Conflict, Forbidden, NotFound
from ..models import KeyClock, Message, iso_time
from .client import Dynamo, error_code
from .items import MOVED_TO, REACTION_ATTRIBUTES, from_item, messages_of, string
from .schema import CHANGES_INDEX

# an item that is a live message: not a nonce record (no AuthorId), not a tombstone
_IS_MESSAGE = "attribute_exists(AuthorId) AND attribute_not_exists(MovedTo)"
_BUMP = "Version = if_not_exists(Version, :zero) + :one, ChangedAt = :changed"
# the people one emoji of one message holds: each one's id travels with the message to every tab that shows it, and
# reactions outlive the sessions that made them, so sessions made for it could grow it to DynamoDB's item limit
MAX_REACTORS = 1000


@dataclass(frozen=True, slots=True)
class Change:
    """The message after a change, and whether anything was stored (False: it already was so)."""

    message: Message
    changed: bool


class MessageChanges:
    """The changes to stored messages, and the change feed read for catch-up."""

    def __init__(self, *, db: Dynamo, table: str, keys: KeyClock, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._table = table
        self._keys = keys
        self._clock = clock

    async def edit(self, room: str, key: str, *, author_id: str, text: str) -> Change:
        """Replace the text of ``author_id``'s message; Forbidden, Conflict (deleted) or NotFound say why not."""
        return await self._db.run(self._edit, room, key, author_id, text)

    def _edit(self, room: str, key: str, author_id: str, text: str) -> Change:
        now = self._now()
        return self._update(
            room,
            key,
            author_id=author_id,
            own=True,
            same_text=text,
            expression=f"SET #text = :text, EditedAt = :edited, {_BUMP}",
            # the same text again (a save replayed, or nothing changed in edit mode) is no edit: not "(edited)"
            condition="AuthorId = :me AND attribute_not_exists(Deleted) AND #text <> :text",
            names={"#text": "Text"},
            values={":text": {"S": text}, ":edited": {"S": iso_time(now)}},
            now=now,
        )

    async def delete(self, room: str, key: str, *, author_id: str) -> Change:
        """Delete ``author_id``'s message: its text and reactions go, its place stays. Deleting it again changes
        nothing; Forbidden or NotFound say why not."""
        return await self._db.run(self._delete, room, key, author_id)

    def _delete(self, room: str, key: str, author_id: str) -> Change:
        reactions = ", ".join(REACTION_ATTRIBUTES.values())
        return self._update(
            room,
            key,
            author_id=author_id,
            own=True,
            deleting=True,
            expression=f"SET Deleted = :true, #text = :empty, {_BUMP} REMOVE {reactions}",
            condition="AuthorId = :me AND attribute_not_exists(Deleted)",
            names={"#text": "Text"},
            values={":true": {"BOOL": True}, ":empty": {"S": ""}},
            now=self._now(),
        )

    async def react(self, room: str, key: str, *, author_id: str, emoji: str, on: bool) -> Change:
        """Add (``on``) or remove ``author_id``'s ``emoji`` on anyone's message; the same intent again changes
        nothing. Conflict for a deleted message, NotFound for none; InvalidInput is the caller's (the palette)."""
        if emoji not in REACTION_ATTRIBUTES:
            raise ValueError("not an emoji of the palette")
        return await self._db.run(self._react, room, key, author_id, emoji, on)

    def _react(self, room: str, key: str, author_id: str, emoji: str, on: bool) -> Change:
        values: dict[str, dict[str, Any]] = {":mine": {"SS": [author_id]}}
        if on:
            action, test = "ADD", "NOT contains(#set, :me) AND (attribute_not_exists(#set) OR size(#set) < :most)"
            values[":most"] = {"N": str(MAX_REACTORS)}
        else:
            action, test = "DELETE", "contains(#set, :me)"
        return self._update(
            room,
            key,
            author_id=author_id,
            own=False,
            adding=emoji if on else None,
            expression=f"{action} #set :mine SET {_BUMP}",
            condition=f"attribute_not_exists(Deleted) AND {test}",
            names={"#set": REACTION_ATTRIBUTES[emoji]},
            values=values,
            now=self._now(),
        )

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def _update(
        self,
        room: str,
        key: str,
        *,
        author_id: str,
        own: bool,
        deleting: bool = False,
        same_text: str | None = None,
        adding: str | None = None,
        expression: str,
        condition: str,
        names: dict[str, str],
        values: dict[str, dict[str, Any]],
        now: datetime,
    ) -> Change:
        try:
            item = self._db.client.update_item(
                TableName=self._table,
                Key={"PartitionKey": {"S": room}, "CreatedAt": {"S": key}},
                UpdateExpression=expression,
                ConditionExpression=f"{_IS_MESSAGE} AND {condition}",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={
                    **values,
                    ":me": {"S": author_id},
                    ":zero": {"N": "0"},
                    ":one": {"N": "1"},
                    ":changed": {"S": self._keys.key(now)},
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            as_is = self._why_not(
                room, key, author_id=author_id, own=own, deleting=deleting, same_text=same_text, adding=adding
            )
            return Change(as_is, changed=False)
        message = from_item(item)
        if message is None:  # the condition holds only for a message item
            raise NotFound("There is no such message.")
        return Change(message, changed=True)

    def _why_not(
        self,
        room: str,
        key: str,
        *,
        author_id: str,
        own: bool,
        deleting: bool,
        same_text: str | None,
        adding: str | None,
    ) -> Message:
        """The message a change left as it was (it already was so), or the reason the change was refused."""
        item = self._db.client.get_item(
            TableName=self._table,
            Key={"PartitionKey": {"S": room}, "CreatedAt": {"S": key}},
            ConsistentRead=True,
        ).get("Item")
        message = None if item is None or "AuthorId" not in item or MOVED_TO in item else from_item(item)
        if message is None:
            raise NotFound("There is no such message. It may be in another room.")
        if own and message.author_id != author_id:
            raise Forbidden("You can only change your own messages.")
        if message.deleted:
            if deleting:  # deleting it again: it is deleted
                return message
            raise Conflict("This message was deleted.")
        if same_text is not None and message.text == same_text:  # an edit to the text it has
            return message
        if adding is not None:
            reactors = dict(message.reactions).get(adding, ())
            if author_id not in reactors and len(reactors) >= MAX_REACTORS:
                raise Conflict(f"{len(reactors):,} people reacted with {adding} already. Pick another reaction.")
        if own:  # the condition failed on the author or the deletion, and neither holds: a race with a delete
            raise Conflict("This message was changed meanwhile. Try again.")
        return message

    async def after(self, room: str, key: str, *, limit: int = 500) -> tuple[list[Message], str | None]:
        """Up to ``limit`` messages changed after the change key ``key``, in the order of their last change.

        Returns them and the change key to read after next, None when nothing more is stored. The index is
        eventually consistent: catch-up reads it from a floor before what it saw, as it reads new keys.
        """
        response = await self._db.run(
            self._db.client.query,
            TableName=self._table,
            IndexName=CHANGES_INDEX,
            KeyConditionExpression="PartitionKey = :room AND ChangedAt > :key",
            # every change key starts with a digit; DynamoDB refuses an empty key value
            ExpressionAttributeValues={":room": {"S": room}, ":key": {"S": max(key, "0")}},
            ScanIndexForward=True,
            Limit=limit,
        )
        items = response.get("Items", [])
        more = "LastEvaluatedKey" in response and bool(items)
        return messages_of(items), (string(items[-1], "ChangedAt") if more else None)
