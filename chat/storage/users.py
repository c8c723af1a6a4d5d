"""The Users table: two items per live name, claimed and released together, holding its session.

The main item is keyed by the name's skeleton and holds the session; the alias item is keyed by the name's case
fold (see chat/names.py) and only points back at it. Neither holds the session token: ``SessionId`` (the key of
the session index) and ``Holder`` are its SHA-256, so a read of the table or of a backup logs nobody in.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from botocore.exceptions import ClientError

from ..errors import NameTaken
from ..models import Session, session_digest
from ..names import alias_key
from .batched_reads import BatchedReads
from .client import Dynamo, error_code
from .schema import SESSION_INDEX, TTL_ATTRIBUTE, TableNames

# concurrent claims of one name can cancel each other's transactions; a few retries let one of them win
_CONFLICT_RETRIES = 5
_ABSENT_OR_EXPIRED = "attribute_not_exists(UserName) OR #exp <= :now"


def _main_item(session: Session) -> dict[str, dict[str, str]]:
    return {
        "UserName": {"S": session.name_key},
        "DisplayName": {"S": session.name},
        "SessionId": {"S": session_digest(session.token)},
        "AuthorId": {"S": session.author_id},
        TTL_ATTRIBUTE: {"N": str(session.expires_at)},
    }


def _alias_item(session: Session) -> dict[str, dict[str, str]]:
    # "Holder", not "SessionId": the session index stays sparse, one entry per session
    return {
        "UserName": {"S": alias_key(session.name)},
        "DisplayName": {"S": session.name},
        "Holder": {"S": session_digest(session.token)},
        TTL_ATTRIBUTE: {"N": str(session.expires_at)},
    }


def _from_item(item: dict[str, Any], token: str) -> Session | None:
    """The live session the main ``item`` holds, if ``token`` is its token."""
    if item.get("SessionId", {}).get("S") != session_digest(token):
        return None
    session = Session(
        token=token,
        name=item["DisplayName"]["S"],
        name_key=item["UserName"]["S"],
        author_id=item.get("AuthorId", {}).get("S", ""),
        expires_at=int(item[TTL_ATTRIBUTE]["N"]),
    )
    return None if session.expired(time.time()) else session


def _refusal(name: str, reasons: list[dict[str, Any]]) -> NameTaken:
    """Say which live name stands in the way, as its holder typed it."""
    holders = [r["Item"]["DisplayName"]["S"] for r in reasons if "DisplayName" in r.get("Item", {})]
    if not holders or name in holders:
        return NameTaken(f"The name {name!r} is in use. Pick another one.")
    return NameTaken(f"The name {name!r} is too similar to {holders[0]!r}, who is online. Pick another one.")


class UserStore:
    """Sessions keyed by name; expired items count as absent (TTL deletion is lazy)."""

    def __init__(self, *, db: Dynamo, tables: TableNames) -> None:
        self._db = db
        self._table = tables.users
        self._reads = BatchedReads(db=db, table=tables.users, key_name="UserName")

    def _keys(self, session: Session) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
        return {"UserName": {"S": session.name_key}}, {"UserName": {"S": alias_key(session.name)}}

    async def claim(self, session: Session) -> None:
        """Store the session unless a live one holds the name or a look-alike: of concurrent claims one wins."""

        def put(item: dict[str, dict[str, str]], now: int) -> dict[str, Any]:
            return {
                "Put": {
                    "TableName": self._table,
                    "Item": item,
                    "ConditionExpression": _ABSENT_OR_EXPIRED,
                    "ExpressionAttributeNames": {"#exp": TTL_ATTRIBUTE},
                    "ExpressionAttributeValues": {":now": {"N": str(now)}},
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            }

        def transact() -> bool:
            """True once claimed, False when cancelled by a concurrent transaction; NameTaken when held."""
            now = int(time.time())
            try:
                self._db.client.transact_write_items(
                    TransactItems=[put(_main_item(session), now), put(_alias_item(session), now)]  # type: ignore[list-item]
                )
            except ClientError as exc:
                if error_code(exc) != "TransactionCanceledException":
                    raise
                reasons: list[dict[str, Any]] = exc.response.get("CancellationReasons", [])  # type: ignore[assignment]
                failed = [r for r in reasons if r.get("Code") == "ConditionalCheckFailed"]
                if failed:
                    raise _refusal(session.name, failed) from None
                if any(r.get("Code") == "TransactionConflict" for r in reasons):
                    return False
                raise
            return True

        for attempt in range(_CONFLICT_RETRIES):
            if await self._db.run(transact):
                return
            await asyncio.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
        raise NameTaken(f"The name {session.name!r} is being claimed right now. Try again in a moment.")

    async def by_name(self, name_key: str, *, token: str) -> Session | None:
        """The live session holding ``name_key`` if ``token`` is its token (strongly consistent read), or None.

        The read shares its round trip with the other sessions' reads asked for meanwhile (see BatchedReads).
        """
        item = await self._reads.get(name_key)
        return None if item is None else _from_item(item, token)

    async def by_token(self, token: str) -> Session | None:
        """The live session with this token, found through the session index by the token's digest, or None."""
        response = await self._db.run(
            self._db.client.query,
            TableName=self._table,
            IndexName=SESSION_INDEX,
            KeyConditionExpression="SessionId = :t",
            ExpressionAttributeValues={":t": {"S": session_digest(token)}},
            Limit=1,
        )
        items = response.get("Items", [])
        return _from_item(items[0], token) if items else None

    async def touch(self, session: Session, expires_at: int) -> bool:
        """Move both items' expiry to ``expires_at``; False if the session no longer holds its name."""
        main, alias = self._keys(session)
        digest = {":h": {"S": session_digest(session.token)}, ":exp": {"N": str(expires_at)}}

        def update(key: dict[str, dict[str, str]], holder: str) -> dict[str, Any]:
            return {
                "Update": {
                    "TableName": self._table,
                    "Key": key,
                    "UpdateExpression": "SET #exp = :exp",
                    "ConditionExpression": f"{holder} = :h",
                    "ExpressionAttributeNames": {"#exp": TTL_ATTRIBUTE},
                    "ExpressionAttributeValues": digest,
                }
            }

        def transact() -> bool:
            try:
                self._db.client.transact_write_items(
                    TransactItems=[update(main, "SessionId"), update(alias, "Holder")]  # type: ignore[list-item]
                )
            except ClientError as exc:
                if error_code(exc) == "TransactionCanceledException":
                    return False
                raise
            return True

        return await self._db.run(transact)

    async def release(self, session: Session) -> None:
        """Delete both items of the session, those still its own (the name becomes free)."""
        main, alias = self._keys(session)
        digest = {":h": {"S": session_digest(session.token)}}
        deletes = [
            {"TableName": self._table, "Key": main, "ConditionExpression": "SessionId = :h"},
            {"TableName": self._table, "Key": alias, "ConditionExpression": "Holder = :h"},
        ]

        def transact() -> None:
            try:
                self._db.client.transact_write_items(
                    TransactItems=[{"Delete": {**d, "ExpressionAttributeValues": digest}} for d in deletes]  # type: ignore[typeddict-item]
                )
            except ClientError as exc:
                if error_code(exc) != "TransactionCanceledException":
                    raise
                # one item was already gone or taken over after expiring: free whichever is still ours
                for delete in deletes:
                    try:
                        self._db.client.delete_item(**delete, ExpressionAttributeValues=digest)  # type: ignore[arg-type]
                    except ClientError as again:
                        if error_code(again) != "ConditionalCheckFailedException":
                            raise

        await self._db.run(transact)
