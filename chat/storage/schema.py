"""Table names and schemas; ensure_tables() creates what is missing."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import StorageUnavailable
from .client import Dynamo, error_code

log = logging.getLogger(__name__)

SESSION_INDEX = "GSI_SessionLookup"
# the change feed: only changed messages carry ChangedAt, so the index holds the changes alone (see changes.py)
CHANGES_INDEX = "GSI_Changes"
# how long start-up waits for DynamoDB to build that index on an existing table (it copies every changed item)
_INDEX_WAIT_SECONDS = 600
TTL_ATTRIBUTE = "ExpiresAt"


@dataclass(frozen=True, slots=True)
class TableNames:
    users: str = "Users"
    messages: str = "Messages"
    rooms: str = "Rooms"
    markers: str = "ReadMarkers"

    @classmethod
    def with_prefix(cls, prefix: str) -> TableNames:
        default = cls()
        return cls(
            users=f"{prefix}{default.users}",
            messages=f"{prefix}{default.messages}",
            rooms=f"{prefix}{default.rooms}",
            markers=f"{prefix}{default.markers}",
        )


def _users_schema(name: str) -> dict[str, object]:
    return {
        "TableName": name,
        "AttributeDefinitions": [
            {"AttributeName": "UserName", "AttributeType": "S"},
            {"AttributeName": "SessionId", "AttributeType": "S"},
        ],
        "KeySchema": [{"AttributeName": "UserName", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": SESSION_INDEX,
                "KeySchema": [{"AttributeName": "SessionId", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }


def keyed_schema(name: str, hash_key: str, range_key: str) -> dict[str, object]:
    """A table of string hash and range keys, billed per request, with no index."""
    return {
        "TableName": name,
        "AttributeDefinitions": [
            {"AttributeName": hash_key, "AttributeType": "S"},
            {"AttributeName": range_key, "AttributeType": "S"},
        ],
        "KeySchema": [
            {"AttributeName": hash_key, "KeyType": "HASH"},
            {"AttributeName": range_key, "KeyType": "RANGE"},
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }


_CHANGED_AT = {"AttributeName": "ChangedAt", "AttributeType": "S"}
_CHANGES_INDEX = {
    "IndexName": CHANGES_INDEX,
    "KeySchema": [
        {"AttributeName": "PartitionKey", "KeyType": "HASH"},
        {"AttributeName": "ChangedAt", "KeyType": "RANGE"},
    ],
    "Projection": {"ProjectionType": "ALL"},
}


def _messages_schema(name: str) -> dict[str, object]:
    schema = keyed_schema(name, "PartitionKey", "CreatedAt")
    schema["AttributeDefinitions"] = [*schema["AttributeDefinitions"], _CHANGED_AT]  # type: ignore[misc]
    schema["GlobalSecondaryIndexes"] = [_CHANGES_INDEX]
    return schema


def _rooms_schema(name: str) -> dict[str, object]:
    return keyed_schema(name, "Scope", "RoomKey")


def _markers_schema(name: str) -> dict[str, object]:
    return keyed_schema(name, "Reader", "Room")


def _ensure(db: Dynamo, schema: dict[str, object]) -> bool:
    name = str(schema["TableName"])
    try:
        db.client.describe_table(TableName=name)
        return False
    except ClientError as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise
    try:
        db.client.create_table(**schema)  # type: ignore[arg-type]
        log.info("created DynamoDB table %s", name)
    except ClientError as exc:
        if error_code(exc) != "ResourceInUseException":  # another process created it first
            raise
    db.client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    return True


def _ensure_changes_index(db: Dynamo, table: str) -> None:
    """Add the change feed's index to a Messages table made before it existed, and wait until it can be read."""
    indexes = db.client.describe_table(TableName=table)["Table"].get("GlobalSecondaryIndexes", [])
    if not any(index["IndexName"] == CHANGES_INDEX for index in indexes):
        try:
            db.client.update_table(
                TableName=table,
                AttributeDefinitions=[
                    {"AttributeName": "PartitionKey", "AttributeType": "S"},
                    {"AttributeName": "CreatedAt", "AttributeType": "S"},
                    _CHANGED_AT,  # type: ignore[list-item]
                ],
                GlobalSecondaryIndexUpdates=[{"Create": _CHANGES_INDEX}],  # type: ignore[typeddict-item]
            )
            log.info("adding the index %s to the DynamoDB table %s", CHANGES_INDEX, table)
        except ClientError as exc:
            # another process started adding it (ResourceInUse, or a validation error for an index under way)
            if error_code(exc) not in ("ResourceInUseException", "ValidationException"):
                raise
    deadline = time.monotonic() + _INDEX_WAIT_SECONDS
    while True:
        indexes = db.client.describe_table(TableName=table)["Table"].get("GlobalSecondaryIndexes", [])
        status = next((i.get("IndexStatus") for i in indexes if i["IndexName"] == CHANGES_INDEX), None)
        if status == "ACTIVE":
            return
        if time.monotonic() > deadline:
            raise StorageUnavailable(f"The index {CHANGES_INDEX} of {table} is still being built ({status}).")
        time.sleep(1)


def _enable_ttl(db: Dynamo, table: str) -> None:
    current = db.client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    if current.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        return
    try:
        db.client.update_time_to_live(
            TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
        )
    except ClientError as exc:
        if error_code(exc) != "ValidationException":  # already enabled by a concurrent start
            raise


def ensure_tables(db: Dynamo, names: TableNames) -> None:
    """Create the tables that are missing and enable expiry; safe to run from many processes at once.

    Blocking: it runs once at start-up, before the server accepts requests.
    """
    try:
        _ensure(db, _users_schema(names.users))
        if not _ensure(db, _messages_schema(names.messages)):
            _ensure_changes_index(db, names.messages)
        _ensure(db, _rooms_schema(names.rooms))
        _ensure(db, _markers_schema(names.markers))
        _enable_ttl(db, names.users)
        _enable_ttl(db, names.messages)  # for the idempotency records; messages themselves have no expiry
        _enable_ttl(db, names.markers)  # a reader's markers outlive the reader by a bounded time; rooms stay
    except (BotoCoreError, ClientError) as exc:
        raise StorageUnavailable(f"Cannot prepare the DynamoDB tables: {exc}") from exc
