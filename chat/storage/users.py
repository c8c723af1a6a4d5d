"""The Users table: one item per live name, holding its session."""

from __future__ import annotations

import time

from botocore.exceptions import ClientError

from ..errors import NameTaken
from ..models import Session
from .client import Dynamo, error_code
from .schema import SESSION_INDEX, TTL_ATTRIBUTE, TableNames


def _to_item(session: Session) -> dict[str, dict[str, str]]:
    return {
        "UserName": {"S": session.name_key},
        "DisplayName": {"S": session.name},
        "SessionId": {"S": session.token},
        TTL_ATTRIBUTE: {"N": str(session.expires_at)},
        "AuthorId": {"S": session.author_id},
    }


def _from_item(item: dict[str, dict[str, str]]) -> Session:
    return Session(
        token=item["SessionId"]["S"],
        name=item["DisplayName"]["S"],
        name_key=item["UserName"]["S"],
        expires_at=int(item[TTL_ATTRIBUTE]["N"]),
        author_id=item.get("AuthorId", {}).get("S", ""),
    )


class UserStore:
    """Sessions keyed by normalized name; expired items count as absent (TTL deletion is lazy)."""

    def __init__(self, *, db: Dynamo, tables: TableNames) -> None:
        self._db = db
        self._table = tables.users

    async def claim(self, session: Session) -> None:
        """Store the session unless a live one holds the name: of concurrent claims exactly one wins."""

        def put() -> None:
            try:
                self._db.client.put_item(
                    TableName=self._table,
                    Item=_to_item(session),
                    ConditionExpression="attribute_not_exists(UserName) OR #exp <= :now",
                    ExpressionAttributeNames={"#exp": TTL_ATTRIBUTE},
                    ExpressionAttributeValues={":now": {"N": str(int(time.time()))}},
                )
            except ClientError as exc:
                if error_code(exc) == "ConditionalCheckFailedException":
                    raise NameTaken(f"The name {session.name!r} is in use. Pick another one.") from None
                raise

        await self._db.run(put)

    async def by_name(self, name_key: str) -> Session | None:
        """The live session holding ``name_key`` (strongly consistent read), or None."""
        response = await self._db.run(
            self._db.client.get_item,
            TableName=self._table,
            Key={"UserName": {"S": name_key}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        if item is None:
            return None
        session = _from_item(item)  # type: ignore[arg-type]
        return None if session.expired(time.time()) else session

    async def by_token(self, token: str) -> Session | None:
        """The live session with this token, found through the session index, or None."""
        response = await self._db.run(
            self._db.client.query,
            TableName=self._table,
            IndexName=SESSION_INDEX,
            KeyConditionExpression="SessionId = :t",
            ExpressionAttributeValues={":t": {"S": token}},
            Limit=1,
        )
        items = response.get("Items", [])
        if not items:
            return None
        session = _from_item(items[0])  # type: ignore[arg-type]
        return None if session.expired(time.time()) else session

    async def touch(self, session: Session, expires_at: int) -> bool:
        """Move the session's expiry to ``expires_at``; False if the session is no longer the name's holder."""

        def update() -> bool:
            try:
                self._db.client.update_item(
                    TableName=self._table,
                    Key={"UserName": {"S": session.name_key}},
                    UpdateExpression="SET #exp = :exp",
                    ConditionExpression="SessionId = :t",
                    ExpressionAttributeNames={"#exp": TTL_ATTRIBUTE},
                    ExpressionAttributeValues={":exp": {"N": str(expires_at)}, ":t": {"S": session.token}},
                )
                return True
            except ClientError as exc:
                if error_code(exc) == "ConditionalCheckFailedException":
                    return False
                raise

        return await self._db.run(update)

    async def release(self, session: Session) -> None:
        """Delete the session's item if it still belongs to this session (the name becomes free)."""

        def delete() -> None:
            try:
                self._db.client.delete_item(
                    TableName=self._table,
                    Key={"UserName": {"S": session.name_key}},
                    ConditionExpression="SessionId = :t",
                    ExpressionAttributeValues={":t": {"S": session.token}},
                )
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":  # already gone or taken over
                    raise

        await self._db.run(delete)
