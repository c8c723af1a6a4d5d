"""Read markers and unread counts against moto: markers only move forward, counts are exact up to their bound and
never read more than the bound, and neither is fooled by tombstones or malformed items."""

from __future__ import annotations

import asyncio
import random

import pytest

from chat.errors import InvalidInput
from chat.models import Draft, new_message_key, new_nonce
from chat.storage import Dynamo, MarkerStore, MessageStore, TableNames
from tests.conftest import plant
from tests.dynamo_calls import watched

EXPIRES = 2_000_000_000


def draft(text: str, room: str = "lobby") -> Draft:
    return Draft(room=room, author="Alice", author_id="id-Alice", text=text, nonce=new_nonce())


async def put_all(store: MessageStore, count: int, room: str = "lobby") -> list[str]:
    """Store ``count`` messages; their keys, oldest first."""
    return sorted([(await store.put(draft(f"m{i}", room))).key for i in range(count)])


def tombstone(db: Dynamo, tables: TableNames, key: str, room: str = "lobby") -> None:
    """What MessageStore leaves at the key of an interrupted write that a retry moved elsewhere."""
    db.client.put_item(
        TableName=tables.messages,
        Item={"PartitionKey": {"S": room}, "CreatedAt": {"S": key}, "MovedTo": {"S": new_message_key()}},
    )


@pytest.fixture
def messages(memory_db: Dynamo, tables: TableNames) -> MessageStore:
    return MessageStore(db=memory_db, tables=tables)


@pytest.fixture
def markers(memory_db: Dynamo, tables: TableNames) -> MarkerStore:
    return MarkerStore(db=memory_db, tables=tables)


async def test_markers_move_forward_only(markers: MarkerStore) -> None:
    older, newer = sorted(new_message_key() for _ in range(2))
    await markers.advance("reader-1", "lobby", newer, expires_at=EXPIRES)
    await markers.advance("reader-1", "lobby", older, expires_at=EXPIRES + 10)  # late, from a slower tab: ignored
    await markers.advance("reader-1", "general", older, expires_at=EXPIRES)
    await markers.advance("reader-2", "lobby", older, expires_at=EXPIRES)
    assert await markers.of_reader("reader-1") == {"lobby": newer, "general": older}
    assert await markers.of_reader("reader-2") == {"lobby": older}
    assert await markers.of_reader("nobody") == {}


async def test_the_same_key_again_pushes_the_expiry_on_but_never_back(
    markers: MarkerStore, memory_db: Dynamo, tables: TableNames
) -> None:
    key = new_message_key()

    def expiry() -> int:
        item = memory_db.client.get_item(
            TableName=tables.markers, Key={"Reader": {"S": "reader"}, "Room": {"S": "lobby"}}
        )["Item"]
        return int(item["ExpiresAt"]["N"])

    await markers.advance("reader", "lobby", key, expires_at=EXPIRES)
    await markers.advance("reader", "lobby", key, expires_at=EXPIRES + 60)  # back in a quiet room
    assert expiry() == EXPIRES + 60
    await markers.advance("reader", "lobby", key, expires_at=EXPIRES)
    assert expiry() == EXPIRES + 60


async def test_concurrent_advances_in_any_order_end_at_the_newest_key(markers: MarkerStore) -> None:
    keys = sorted(new_message_key() for _ in range(40))
    shuffled = random.sample(keys, len(keys))
    await asyncio.gather(*(markers.advance("reader", "lobby", key, expires_at=EXPIRES) for key in shuffled))
    assert await markers.of_reader("reader") == {"lobby": keys[-1]}


@pytest.mark.parametrize("key", ["", "garbage", "\uffff", "2026-99-01T00:00:00.000Z#0123456789abcdef"])
async def test_a_marker_past_every_key_is_refused(markers: MarkerStore, key: str) -> None:
    with pytest.raises(InvalidInput):
        await markers.advance("reader", "lobby", key, expires_at=EXPIRES)
    assert await markers.of_reader("reader") == {}


async def test_of_reader_skips_items_that_are_not_markers_and_follows_pages(
    markers: MarkerStore, memory_db: Dynamo, tables: TableNames
) -> None:
    key = new_message_key()
    memory_db.client.put_item(  # written by hand: no valid key
        TableName=tables.markers, Item={"Reader": {"S": "reader"}, "Room": {"S": "broken"}, "Key": {"S": "zzz"}}
    )
    rooms = [f"room-{i:02}-" + "x" * 1000 for i in range(30)]
    for room in rooms:
        memory_db.client.put_item(  # 40 KB items, so that DynamoDB ends pages at 1 MB before the reader's last one
            TableName=tables.markers,
            Item={
                "Reader": {"S": "reader"},
                "Room": {"S": room},
                "Key": {"S": key},
                "Note": {"S": "y" * 40_000},
            },
        )
    with watched(memory_db) as calls:
        found = await markers.of_reader("reader")
    assert found == dict.fromkeys(rooms, key)
    assert len(calls.of("Query")) >= 2
    assert all(call.params["ConsistentRead"] for call in calls.of("Query"))


async def test_count_after_stops_at_its_limit_and_reads_no_more(messages: MessageStore, memory_db: Dynamo) -> None:
    keys = await put_all(messages, 150)
    with watched(memory_db, forbidden=("Scan",)) as calls:
        assert await messages.count_after("lobby", "", limit=100) == 100
    (query,) = calls.of("Query")  # one page: nothing in the way to skip
    assert query.params["Select"] == "COUNT"
    assert query.params["Limit"] == 100
    assert query.answer["ScannedCount"] == 100
    assert "Items" not in query.answer  # counted by DynamoDB, nothing read out
    with watched(memory_db) as calls:
        assert await messages.count_after("lobby", keys[0], limit=1000) == 149  # exact below the bound
        assert await messages.count_after("lobby", keys[99], limit=100) == 50
        assert await messages.count_after("lobby", keys[-1], limit=100) == 0
        assert await messages.count_after("lobby", keys[10], limit=0) == 0
        assert await messages.count_after("empty", "", limit=100) == 0
    assert sum(call.answer["ScannedCount"] for call in calls.of("Query")) == 149 + 50


async def test_count_after_skips_tombstones_and_malformed_keys_within_its_bound(
    messages: MessageStore, memory_db: Dynamo, tables: TableNames
) -> None:
    keys = await put_all(messages, 20)
    for i in range(0, 20, 2):  # a tombstone just after every other message
        tombstone(memory_db, tables, keys[i][:-1] + ("0" if keys[i][-1] == "f" else "f"))
    plant(memory_db, tables, key=keys[9] + "\n", text="between a key and the next one")
    plant(memory_db, tables, key="garbage", text="after every key")
    plant(memory_db, tables, key="٢٠٢٦-01-01T00:00:00.000Z#0123456789abcdef", text="Arabic-Indic digits, after too")
    # DynamoDB allows no filter on a key: the item between keys[9] and keys[10] counts from before it ...
    assert await messages.count_after("lobby", "", limit=100) == 21
    # ... but not from keys[9] itself, where the unread count of a reader who saw keys[9] starts
    assert await messages.count_after("lobby", keys[9], limit=100) == 10
    with watched(memory_db) as calls:
        assert await messages.count_after("lobby", "", limit=15) == 15
    pages = calls.of("Query")
    # each page asks only for what is left to count, so the items read stay within the bound plus what was skipped
    assert [call.params["Limit"] for call in pages] == [
        15 - sum(c.answer["Count"] for c in pages[:n]) for n in range(len(pages))
    ]
    assert sum(call.answer["ScannedCount"] for call in pages) <= 15 + 10


async def test_count_after_is_exact_where_a_key_suffix_runs_out(
    messages: MessageStore, memory_db: Dynamo, tables: TableNames
) -> None:
    last_of_a_millisecond = "2026-05-01T12:00:00.999Z#ffffffffffffffff"
    first_of_the_next = "2026-05-01T12:00:01.000Z#0000000000000000"
    for key in (last_of_a_millisecond, first_of_the_next):
        plant(memory_db, tables, key=key, text=key)
    assert await messages.count_after("lobby", "2026-05-01T12:00:00.999Z#fffffffffffffffe", limit=10) == 2
    assert await messages.count_after("lobby", last_of_a_millisecond, limit=10) == 1
    assert await messages.count_after("lobby", first_of_the_next, limit=10) == 0
    plant(memory_db, tables, key="9999-12-31T23:59:59.999Z#ffffffffffffffff", text="the last key there can be")
    assert await messages.count_after("lobby", first_of_the_next, limit=10) == 1
    assert await messages.count_after("lobby", "9999-12-31T23:59:59.999Z#ffffffffffffffff", limit=10) == 0


async def test_newest_key_steps_over_tombstones_and_malformed_keys(
    messages: MessageStore, memory_db: Dynamo, tables: TableNames
) -> None:
    assert await messages.newest_key("lobby") is None
    keys = await put_all(messages, 3)
    assert await messages.newest_key("lobby") == keys[-1]
    for _ in range(25):  # more tombstones above the newest message than one page reads
        tombstone(memory_db, tables, new_message_key())
    plant(memory_db, tables, key="zzz-garbage", text="sorts after every key")
    plant(memory_db, tables, key="2999-99-01T00:00:00.000Z#0123456789abcdef", text="no such month")
    assert await messages.newest_key("lobby") == keys[-1]
    assert await messages.newest_key("elsewhere") is None
