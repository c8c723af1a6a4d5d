"""Rooms, read markers and unread counts on the real DynamoDB Local, with real concurrency: the storage client's
16 threads send at once, so the conditions and transactions decide the races, not the order of one thread."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable

import pytest

from chat.errors import RoomLookAlike
from chat.models import Draft, new_message_key, new_nonce
from chat.names import name_key
from chat.storage import Dynamo, MarkerStore, MessageStore, RoomRecord, RoomStore, TableNames
from tests.conftest import plant
from tests.dynamo_calls import watched

pytestmark = pytest.mark.integration

Report = Callable[[str, object], None]
EXPIRES = 2_000_000_000


def room_id(name: str) -> str:
    """What a caller might make of a name for the path: lower case."""
    return name.lower()


async def create(rooms: RoomStore, name: str, *, by: str = "Alice") -> tuple[RoomRecord, bool]:
    """Create ``name`` as a caller would, its look-alike key being the name's confusable skeleton."""
    return await rooms.create(room_id=room_id(name), name=name, lookalike=name_key(name), created_by=by)


async def test_of_ten_concurrent_creates_of_one_name_exactly_one_creates(
    dynamo: Dynamo, real_tables: TableNames, record_property: Report
) -> None:
    rooms = RoomStore(db=dynamo, tables=real_tables)
    with watched(dynamo) as calls:
        results = await asyncio.gather(*(create(rooms, "General", by=f"user{i}") for i in range(10)))
    assert sum(created for _, created in results) == 1
    winner = next(room for room, created in results if created)
    assert all(room == winner for room, _ in results)  # every loser is taken to the winner's room
    assert await rooms.get("general") == winner
    assert await rooms.list(limit=100) == [winner]
    # how the race went: every transaction's outcome, as DynamoDB gave its reasons
    outcomes = Counter(
        "/".join(r.get("Code", "") for r in call.answer.get("CancellationReasons", [])) or "created"
        for call in calls.of("TransactWriteItems")
    )
    record_property("concurrent_create_transactions", dict(outcomes))


async def test_of_ten_concurrent_creates_of_look_alike_names_one_creates_and_the_rest_are_shown_it(
    dynamo: Dynamo, real_tables: TableNames
) -> None:
    rooms = RoomStore(db=dynamo, tables=real_tables)
    # digit one, capital i, a bar, a Cyrillic e, U+217C SMALL ROMAN NUMERAL FIFTY: all look like "General"
    names = ["General", "Genera1", "GeneraI", "Genera|", "Gеneral", "Generaⅼ"] + ["General", "Genera1"] * 2
    assert len({name_key(name) for name in names}) == 1
    outcomes = await asyncio.gather(*(create(rooms, name) for name in names), return_exceptions=True)
    created = [o[0] for o in outcomes if isinstance(o, tuple) and o[1]]
    assert len(created) == 1
    (winner,) = created
    for outcome in outcomes:
        if isinstance(outcome, RoomLookAlike):
            assert (outcome.existing_id, outcome.existing_name) == (winner.id, winner.name)
            assert outcome.message == f"That name is too similar to the room '{winner.name}'. Pick another one."
        else:
            assert isinstance(outcome, tuple), outcome
            assert outcome[0] == winner  # the same id as the winner: taken to it
    assert await rooms.list(limit=100) == [winner]


async def test_a_look_alike_of_an_existing_room_is_refused_naming_it(dynamo: Dynamo, real_tables: TableNames) -> None:
    rooms = RoomStore(db=dynamo, tables=real_tables)
    general, created = await create(rooms, "General")
    assert created
    with pytest.raises(RoomLookAlike) as refused:
        await create(rooms, "Genera1")
    assert str(refused.value) == "That name is too similar to the room 'General'. Pick another one."
    assert (refused.value.existing_id, refused.value.existing_name) == (general.id, general.name)
    assert await rooms.get("genera1") is None
    other, created = await create(rooms, "Random")  # a name unlike any other is fine
    assert created
    assert await rooms.list(limit=10) == [general, other]


async def test_list_reads_in_id_order_up_to_its_limit_with_queries_only(
    dynamo: Dynamo, real_tables: TableNames
) -> None:
    rooms = RoomStore(db=dynamo, tables=real_tables)
    names = [f"Room {i:02}" for i in range(30)]
    await asyncio.gather(*(create(rooms, name) for name in random.sample(names, len(names))))
    with watched(dynamo, forbidden=("Scan",)) as calls:
        first = await rooms.list(limit=25)
        every = await rooms.list(limit=100)
    assert [room.name for room in first] == names[:25]
    assert [room.name for room in every] == names
    assert {call.operation for call in calls.calls} == {"Query"}
    assert calls.refused == []


async def test_list_follows_pages_past_one_megabyte(dynamo: Dynamo, real_tables: TableNames) -> None:
    rooms = RoomStore(db=dynamo, tables=real_tables)
    for i in range(12):  # 200 KB each: DynamoDB ends a page at 1 MB, about five of them
        await rooms.create(room_id=f"big{i:02}", name="x" * 200_000, lookalike=f"big{i:02}", created_by="Alice")
    with watched(dynamo, forbidden=("Scan",)) as calls:
        listed = await rooms.list(limit=100)
    assert [room.id for room in listed] == [f"big{i:02}" for i in range(12)]
    assert len(calls.of("Query")) >= 2


async def test_markers_only_move_forward_under_concurrency(dynamo: Dynamo, real_tables: TableNames) -> None:
    markers = MarkerStore(db=dynamo, tables=real_tables)
    keys = sorted(new_message_key() for _ in range(60))
    for rounds in (keys[:20], keys[:40], keys):  # each round replays older keys alongside newer ones
        await asyncio.gather(
            *(
                markers.advance("reader", "lobby", key, expires_at=EXPIRES)
                for key in random.sample(rounds, len(rounds))
            ),
            *(markers.advance("reader", "general", key, expires_at=EXPIRES) for key in rounds[:5]),
        )
        assert await markers.of_reader("reader") == {"lobby": rounds[-1], "general": keys[4]}
    assert await markers.of_reader("someone else") == {}


async def test_count_after_is_exact_below_its_bound_and_reads_no_more_than_it(
    dynamo: Dynamo, real_tables: TableNames, record_property: Report
) -> None:
    messages = MessageStore(db=dynamo, tables=real_tables)
    drafts = [Draft(room="lobby", author="Al", author_id="al", text=f"m{i}", nonce=new_nonce()) for i in range(150)]
    keys: list[str] = []
    for start in range(0, len(drafts), 50):
        keys += [m.key for m in await asyncio.gather(*(messages.put(d) for d in drafts[start : start + 50]))]
    keys.sort()
    with watched(dynamo) as calls:
        assert await messages.count_after("lobby", "", limit=100) == 100
    assert [call.params["Limit"] for call in calls.calls] == [100]
    assert calls.calls[0].answer["ScannedCount"] == 100
    assert await messages.count_after("lobby", keys[0], limit=1000) == 149
    assert await messages.count_after("lobby", keys[99], limit=100) == 50
    assert await messages.count_after("lobby", keys[-1], limit=100) == 0
    assert await messages.newest_key("lobby") == keys[-1]
    assert await messages.newest_key("nowhere") is None
    record_property("count_150_limit_100_items_read", calls.calls[0].answer["ScannedCount"])


def next_key(key: str) -> str:
    """A key just after ``key``: the same millisecond, the suffix one higher."""
    return f"{key[:25]}{int(key[25:], 16) + 1:016x}"


async def test_count_after_and_newest_key_skip_tombstones_and_malformed_keys_within_the_bound(
    dynamo: Dynamo, real_tables: TableNames, record_property: Report
) -> None:
    messages = MessageStore(db=dynamo, tables=real_tables)
    keys = sorted(
        [
            (await messages.put(Draft(room="lobby", author="Al", author_id="al", text=f"m{i}", nonce=new_nonce()))).key
            for i in range(40)
        ]
    )
    skipped = [next_key(key) for key in keys[20:30]]  # a tombstone right after ten of the messages
    for key in skipped:
        dynamo.client.put_item(
            TableName=real_tables.messages,
            Item={"PartitionKey": {"S": "lobby"}, "CreatedAt": {"S": key}, "MovedTo": {"S": new_message_key()}},
        )
    newer = new_message_key()  # a tombstone above the newest message too
    dynamo.client.put_item(
        TableName=real_tables.messages,
        Item={"PartitionKey": {"S": "lobby"}, "CreatedAt": {"S": newer}, "MovedTo": {"S": new_message_key()}},
    )
    plant(dynamo, real_tables, key=keys[19] + "\n", text="between a key and the next one")
    plant(dynamo, real_tables, key="٢٠٢٦-01-01T00:00:00.000Z#0123456789abcdef", text="Arabic-Indic digits")
    plant(dynamo, real_tables, key="garbage", text="no key")
    # DynamoDB allows no filter on a key: the item between keys[19] and keys[20] counts from before it ...
    assert await messages.count_after("lobby", "", limit=100) == 41
    # ... but not from keys[19] itself, where the unread count of a reader who saw keys[19] starts
    assert await messages.count_after("lobby", keys[19], limit=100) == 20
    with watched(dynamo) as calls:
        assert await messages.count_after("lobby", keys[19], limit=15) == 15
    pages = calls.of("Query")
    # each page asks only for what is left to count: what is read stays within the bound plus what was skipped
    assert [page.params["Limit"] for page in pages] == [
        15 - sum(p.answer["Count"] for p in pages[:n]) for n in range(len(pages))
    ]
    read = sum(page.answer["ScannedCount"] for page in pages)
    assert read <= 15 + len(skipped)
    record_property("count_limit_15_past_10_tombstones", {"pages": len(pages), "items_read": read})
    assert await messages.newest_key("lobby") == keys[-1]
