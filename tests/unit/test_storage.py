"""The DynamoDB stores against moto: keys never collide, pages are exact, one claim of a name wins."""

import asyncio
import hashlib
import itertools
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from chat.errors import Conflict, NameTaken
from chat.models import Draft, Message, Session, new_author_id, new_message_key, new_nonce, new_session_token
from chat.storage import Dynamo, MessageStore, TableNames, UserStore, ensure_tables
from chat.storage.messages import nonce_partition
from tests.conftest import plant


def draft(text: str = "hi", author: str = "Alice", nonce: str | None = None) -> Draft:
    return Draft(room="lobby", author=author, author_id=f"id-{author}", text=text, nonce=nonce or new_nonce())


async def put_all(store: MessageStore, count: int) -> list[str]:
    """Store ``count`` messages; their keys, oldest first."""
    return sorted([(await store.put(draft(f"m{i}"))).key for i in range(count)])


async def everything(store: MessageStore) -> list[Message]:
    messages, _ = await store.after("lobby", "0", limit=5000)
    return messages


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
    for table in (tables.users, tables.messages):  # sessions and idempotency records expire
        ttl = memory_db.client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        assert ttl["TimeToLiveStatus"] == "ENABLED"
        assert ttl["AttributeName"] == "ExpiresAt"


async def test_a_thousand_messages_in_one_millisecond_all_survive(memory_db: Dynamo, tables: TableNames) -> None:
    moment = datetime(2026, 5, 1, 12, 0, 0, 123_000, tzinfo=UTC).timestamp()
    store = MessageStore(db=memory_db, tables=tables, clock=lambda: moment)
    written = await asyncio.gather(*(store.put(draft(f"m{i}")) for i in range(1000)))
    stored = await everything(store)
    assert len(stored) == 1000
    assert {m.key for m in stored} == {m.key for m in written}
    assert {m.text for m in stored} == {f"m{i}" for i in range(1000)}
    assert all(m.key.startswith("2026-05-01T12:00:00.123Z#") for m in stored)


async def test_the_server_gives_the_key_from_its_own_clock(memory_db: Dynamo, tables: TableNames) -> None:
    now = datetime(2026, 11, 29, 15, 0, 0, 250_000, tzinfo=UTC)
    store = MessageStore(db=memory_db, tables=tables, clock=now.timestamp)
    stored = await store.put(draft("when?"))
    assert stored.created_at == now
    assert [m.key for m in await everything(store)] == [stored.key]


async def test_a_retry_with_the_same_nonce_gets_the_first_message_even_ten_minutes_later(
    memory_db: Dynamo, tables: TableNames
) -> None:
    clock = itertools.count(1_790_000_000, 600).__next__  # every call is ten minutes later
    store = MessageStore(db=memory_db, tables=tables, clock=lambda: float(clock()))
    first = await store.put(draft("once", nonce="retry-0001"))
    again = await store.put(draft("once", nonce="retry-0001"))
    assert again == first  # the same key: the message keeps its place in time
    assert [m.text for m in await everything(store)] == ["once"]


async def test_a_nonce_reused_for_other_text_is_a_conflict_and_stores_nothing(
    memory_db: Dynamo, tables: TableNames
) -> None:
    store = MessageStore(db=memory_db, tables=tables)
    await store.put(draft("original", nonce="same-nonce"))
    with pytest.raises(Conflict, match="already used for a different message"):
        await store.put(draft("impostor", nonce="same-nonce"))
    assert [m.text for m in await everything(store)] == ["original"]


async def test_nonces_are_per_author(memory_db: Dynamo, tables: TableNames) -> None:
    store = MessageStore(db=memory_db, tables=tables)
    await store.put(draft("from Alice", author="Alice", nonce="shared-nonce"))
    await store.put(draft("from Bob", author="Bob", nonce="shared-nonce"))
    assert sorted(m.text for m in await everything(store)) == ["from Alice", "from Bob"]


async def test_concurrent_retries_of_one_nonce_store_one_message(memory_db: Dynamo, tables: TableNames) -> None:
    store = MessageStore(db=memory_db, tables=tables)
    results = await asyncio.gather(*(store.put(draft("twice", nonce="raced-nonce")) for _ in range(8)))
    assert len({m.key for m in results}) == 1
    assert len(await everything(store)) == 1


@pytest.mark.parametrize(
    "key",
    [
        "2026-99-01T00:00:00.000Z#0123456789abcdef",  # month 99
        "2026-02-30T00:00:00.000Z#0123456789abcdef",  # no such day
        "٢٠٢٦-01-01T00:00:00.000Z#0123456789abcdef",  # Arabic-Indic digits
        "2026-01-01T00:00:00.000Z#0123456789abcdef\n",  # a trailing newline
        "garbage",
    ],
)
async def test_no_stored_item_can_break_a_page(memory_db: Dynamo, tables: TableNames, key: str) -> None:
    store = MessageStore(db=memory_db, tables=tables)
    keys = await put_all(store, 3)
    plant(memory_db, tables, key=key, text="bad")
    memory_db.client.put_item(  # an item without the message attributes at all
        TableName=tables.messages, Item={"PartitionKey": {"S": "lobby"}, "CreatedAt": {"S": new_message_key()}}
    )
    seen: list[str] = []
    before: str | None = None
    while True:  # pages of one, so the bad items are alone on a page and must be stepped over
        page = await store.page("lobby", limit=1, before=before)
        seen = [m.key for m in page.messages] + seen
        if page.cursor is None:
            break
        before = page.cursor
    assert set(keys) <= set(seen)
    assert key not in seen
    assert all(m.text == "" or m.text.startswith("m") for m in await everything(store))


async def test_pages_of_an_empty_room(memory_db: Dynamo, tables: TableNames) -> None:
    page = await MessageStore(db=memory_db, tables=tables).page("lobby", limit=30)
    assert page.messages == []
    assert page.cursor is None


@pytest.mark.parametrize(("count", "size"), [(1, 1), (5, 5), (6, 5), (10, 5), (7, 3), (30, 30), (31, 30), (3, 1)])
async def test_pages_walk_newest_first_and_the_cursor_is_exact_at_every_edge(
    memory_db: Dynamo, tables: TableNames, count: int, size: int
) -> None:
    store = MessageStore(db=memory_db, tables=tables)
    keys = await put_all(store, count)
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
    keys = await put_all(store, 25)
    messages, cursor = await store.after("lobby", keys[9])
    assert ([m.key for m in messages], cursor) == (keys[10:], None)
    messages, cursor = await store.after("lobby", keys[9], limit=4)
    assert ([m.key for m in messages], cursor) == (keys[10:14], keys[13])
    assert await store.after("lobby", keys[-1]) == ([], None)


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


async def test_a_retry_finishes_an_attempt_that_stopped_between_its_two_writes(
    memory_db: Dynamo, tables: TableNames
) -> None:
    now = 1_790_000_000.0
    store = MessageStore(db=memory_db, tables=tables, clock=lambda: now)
    old_key = new_message_key(datetime.fromtimestamp(now - 600, UTC))  # the attempt ten minutes ago...
    first = draft("half way", nonce="half-done-1")
    memory_db.client.put_item(  # ...wrote its nonce record, then its process died
        TableName=tables.messages,
        Item={
            "PartitionKey": {"S": nonce_partition("lobby", first.author_id)},
            "CreatedAt": {"S": first.nonce},
            "MessageKey": {"S": old_key},
            "TextDigest": {"S": hashlib.sha256(b"half way").hexdigest()},
            "ExpiresAt": {"N": str(int(now) + 3600)},
        },
    )
    retried = await store.put(first)
    assert retried.created_at.timestamp() == now  # stored at the time of the retry: catch-up windows find it
    assert [m.key for m in await everything(store)] == [retried.key]
    assert await store.put(first) == retried  # and a third attempt gets the same message
    # the old attempt's write, arriving late, cannot make a second copy
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        memory_db.client.put_item(
            TableName=tables.messages,
            Item={"PartitionKey": {"S": "lobby"}, "CreatedAt": {"S": old_key}, "Text": {"S": "half way"}},
            ConditionExpression="attribute_not_exists(CreatedAt)",
        )
    assert [m.text for m in await everything(store)] == ["half way"]
