"""Session reads share BatchGetItem calls (chat/storage/batched_reads.py) and still read DynamoDB every time."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chat.errors import StorageUnavailable
from chat.models import Session, new_author_id, new_session_token
from chat.storage import Dynamo, TableNames, UserStore
from chat.storage.batched_reads import BatchedReads
from tests.dynamo_calls import watched


def session(name: str) -> Session:
    return Session(
        token=new_session_token(), name=name, name_key=name, author_id=new_author_id(), expires_at=2_000_000_000
    )


async def test_reads_asked_while_one_is_out_share_the_next_call(memory_db: Dynamo, tables: TableNames) -> None:
    users = UserStore(db=memory_db, tables=tables)
    people = [session(f"user{i}") for i in range(10)]
    for person in people:
        await users.claim(person)
    with watched(memory_db) as calls:
        found = await asyncio.gather(*(users.by_name(p.name_key, token=p.token) for p in people))
    assert found == people
    assert calls.of("GetItem") == []
    batches = calls.of("BatchGetItem")
    assert 1 <= len(batches) < len(people)
    for call in batches:
        assert call.params["RequestItems"][tables.users]["ConsistentRead"] is True


async def test_a_read_asked_after_a_logout_sees_it(memory_db: Dynamo, tables: TableNames) -> None:
    users = UserStore(db=memory_db, tables=tables)
    ada, bob = session("ada"), session("bob")
    await users.claim(ada)
    await users.claim(bob)
    assert await users.by_name("ada", token=ada.token) == ada
    await users.release(ada)
    # asked together with another read, after the release finished: nothing remembered from the read before
    assert await asyncio.gather(users.by_name("ada", token=ada.token), users.by_name("bob", token=bob.token)) == [
        None,
        bob,
    ]


async def test_one_key_read_twice_at_once_is_asked_for_once(memory_db: Dynamo, tables: TableNames) -> None:
    users = UserStore(db=memory_db, tables=tables)
    ada = session("ada")
    await users.claim(ada)
    reads = BatchedReads(db=memory_db, table=tables.users, key_name="UserName", in_flight=1)
    with watched(memory_db) as calls:
        first, second, third = await asyncio.gather(reads.get("ada"), reads.get("ada"), reads.get("ada"))
    assert first == second == third
    assert first is not None
    assert first["DisplayName"] == {"S": "ada"}
    # asked in one turn of the event loop, they went in one call, as one key (DynamoDB refuses duplicates)
    assert [len(call.params["RequestItems"][tables.users]["Keys"]) for call in calls.of("BatchGetItem")] == [1]


async def test_more_keys_than_one_call_takes_go_in_several(memory_db: Dynamo, tables: TableNames) -> None:
    reads = BatchedReads(db=memory_db, table=tables.users, key_name="UserName", in_flight=1)
    with watched(memory_db) as calls:
        found = await asyncio.gather(*(reads.get(f"nobody{i}") for i in range(250)))
    assert found == [None] * 250
    assert [len(call.params["RequestItems"][tables.users]["Keys"]) for call in calls.of("BatchGetItem")] == [
        100,
        100,
        50,
    ]


class _Throttled:
    """A client whose first answers leave every key unprocessed, as DynamoDB does when it throttles."""

    def __init__(self, unprocessed: int) -> None:
        self.unprocessed = unprocessed
        self.requests: list[dict[str, Any]] = []

    def batch_get_item(self, *, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(RequestItems)
        if len(self.requests) <= self.unprocessed:
            return {"Responses": {}, "UnprocessedKeys": RequestItems}
        keys = RequestItems["Users"]["Keys"]
        return {"Responses": {"Users": [{**key, "Found": {"BOOL": True}} for key in keys]}, "UnprocessedKeys": {}}


def throttled_reads(client: _Throttled) -> BatchedReads:
    db = Dynamo(client, workers=1)  # type: ignore[arg-type]
    return BatchedReads(db=db, table="Users", key_name="UserName", unprocessed_pause=0.0)


async def test_keys_left_unprocessed_are_asked_for_again() -> None:
    client = _Throttled(unprocessed=2)
    assert await throttled_reads(client).get("ada") == {"UserName": {"S": "ada"}, "Found": {"BOOL": True}}
    assert len(client.requests) == 3


async def test_keys_left_unprocessed_for_good_fail_every_read_of_the_batch() -> None:
    client = _Throttled(unprocessed=100)
    reads = throttled_reads(client)
    results = await asyncio.gather(reads.get("ada"), reads.get("bob"), return_exceptions=True)
    assert all(isinstance(result, StorageUnavailable) for result in results)
    with pytest.raises(StorageUnavailable):
        await reads.get("carol")  # the next read goes out again
