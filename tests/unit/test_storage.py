"""The DynamoDB stores against moto: keys never collide, pages are exact, one claim of a name wins."""

import asyncio
from datetime import UTC, datetime

import pytest

from chat.errors import NameTaken
from chat.models import Message, Session, new_author_id, new_message_key, new_session_token
from chat.storage import Dynamo, MessageStore, TableNames, UserStore, ensure_tables


def message(key: str, text: str = "hi", author: str = "Alice") -> Message:
    return Message(room="lobby", key=key, author=author, author_key=author.lower(), text=text)


async def test_ensure_tables_is_idempotent_and_creates_the_seed_schema(memory_db: Dynamo, tables: TableNames) -> None:
    ensure_tables(memory_db, tables)  # a second run (another process starting) changes nothing
    users = memory_db.client.describe_table(TableName=tables.users)["Table"]
    assert users["KeySchema"] == [{"AttributeName": "UserName", "KeyType": "HASH"}]
    assert users["GlobalSecondaryIndexes"][0]["IndexName"] == "GSI_SessionLookup"
    assert users["GlobalSecondaryIndexes"][0]["KeySchema"] == [{"AttributeName": "SessionId", "KeyType": "HASH"}]
    messages = memory_db.client.describe_table(TableName=tables.messages)["Table"]
    assert messages["KeySchema"] == [
        {"AttributeName": "PartitionKey", "KeyType": "HASH"},
        {"AttributeName": "CreatedAt", "KeyType": "RANGE"},
    ]
    ttl = memory_db.client.describe_time_to_live(TableName=tables.users)["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "ENABLED"
    assert ttl["AttributeName"] == "ExpiresAt"


async def test_a_thousand_messages_in_one_millisecond_from_many_threads_all_survive(
    memory_db: Dynamo, tables: TableNames
) -> None:
    store = MessageStore(db=memory_db, tables=tables)
    moment = datetime(2026, 5, 1, 12, 0, 0, 123_000, tzinfo=UTC)
    sent = [message(new_message_key(moment), text=f"m{i}") for i in range(1000)]
    written = await asyncio.gather(*(store.put(m) for m in sent))  # 16 storage threads write concurrently
    assert all(written)
    stored = await store.after("lobby", "0", limit=5000)
    assert len(stored) == 1000
    assert {m.key for m in stored} == {m.key for m in sent}
    assert {m.text for m in stored} == {f"m{i}" for i in range(1000)}
    assert all(m.key.startswith("2026-05-01T12:00:00.123Z#") for m in stored)


async def test_put_is_idempotent_for_the_same_message(memory_db: Dynamo, tables: TableNames) -> None:
    store = MessageStore(db=memory_db, tables=tables)
    first = message(new_message_key())
    assert await store.put(first) is True
    assert await store.put(first) is False  # a retry finds its own item: success, not a duplicate
    assert len(await store.after("lobby", "0")) == 1


async def test_put_never_overwrites_another_message(memory_db: Dynamo, tables: TableNames) -> None:
    store = MessageStore(db=memory_db, tables=tables)
    key = new_message_key()
    await store.put(message(key, text="original"))
    with pytest.raises(Exception, match="already used"):
        await store.put(message(key, text="impostor"))
    assert [m.text for m in await store.after("lobby", "0")] == ["original"]


async def test_pages_of_an_empty_room(memory_db: Dynamo, tables: TableNames) -> None:
    page = await MessageStore(db=memory_db, tables=tables).page("lobby", limit=30)
    assert page.messages == []
    assert page.cursor is None


@pytest.mark.parametrize(("count", "size"), [(1, 1), (5, 5), (6, 5), (10, 5), (7, 3), (30, 30), (31, 30), (3, 1)])
async def test_pages_walk_newest_first_and_the_cursor_is_exact_at_every_edge(
    memory_db: Dynamo, tables: TableNames, count: int, size: int
) -> None:
    store = MessageStore(db=memory_db, tables=tables)
    keys = sorted(new_message_key() for _ in range(count))
    for key in keys:
        await store.put(message(key))
    seen: list[str] = []
    before = None
    pages = 0
    while True:
        page = await store.page("lobby", limit=size, before=before)
        pages += 1
        assert [m.key for m in page.messages] == sorted(m.key for m in page.messages)  # oldest first in a page
        assert 0 < len(page.messages) <= size
        seen = [m.key for m in page.messages] + seen
        if page.cursor is None:
            break
        assert page.cursor == page.messages[0].key
        before = page.cursor
    assert seen == keys
    assert pages == -(-count // size)  # no empty trailing page: the cursor is None exactly at the start


async def test_after_reads_everything_past_a_key_in_order(memory_db: Dynamo, tables: TableNames) -> None:
    store = MessageStore(db=memory_db, tables=tables)
    keys = sorted(new_message_key() for _ in range(25))
    for key in keys:
        await store.put(message(key))
    assert [m.key for m in await store.after("lobby", keys[9])] == keys[10:]
    assert [m.key for m in await store.after("lobby", keys[9], limit=4)] == keys[10:14]
    assert await store.after("lobby", keys[-1]) == []


def session(name: str, expires_at: int = 4_000_000_000) -> Session:
    return Session(
        token=new_session_token(), name=name, name_key=name.lower(), author_id=new_author_id(), expires_at=expires_at
    )


async def test_twenty_concurrent_claims_of_one_name_make_exactly_one_session(
    memory_db: Dynamo, tables: TableNames
) -> None:
    users = UserStore(db=memory_db, tables=tables)
    claims = [session("Alice") for _ in range(20)]
    results = await asyncio.gather(*(users.claim(c) for c in claims), return_exceptions=True)
    winners = [c for c, r in zip(claims, results, strict=True) if r is None]
    assert len(winners) == 1
    assert all(isinstance(r, NameTaken) for r in results if r is not None)
    holder = await users.by_name("alice", token=winners[0].token)
    assert holder == winners[0]


async def test_an_expired_session_frees_its_name_and_is_not_found(memory_db: Dynamo, tables: TableNames) -> None:
    users = UserStore(db=memory_db, tables=tables)
    old = session("Bob", expires_at=1)
    await users.claim(old)
    assert await users.by_name("bob", token=old.token) is None
    assert await users.by_token(old.token) is None
    new = session("Bob")
    await users.claim(new)
    assert await users.by_token(new.token) == new


async def test_release_only_deletes_its_own_session(memory_db: Dynamo, tables: TableNames) -> None:
    users = UserStore(db=memory_db, tables=tables)
    mine = session("Carol")
    await users.claim(mine)
    stranger = session("Carol", expires_at=mine.expires_at)
    await users.release(stranger)
    assert await users.by_name("carol", token=mine.token) == mine
    assert await users.by_name("carol", token=stranger.token) is None
    assert await users.touch(stranger, 4_100_000_000) is False
    assert await users.touch(mine, 4_100_000_000) is True
    await users.release(mine)
    assert await users.by_name("carol", token=mine.token) is None
