"""The Rooms table against moto: one create per name and look-alike wins, a taken name leads to its room, and a
listing is a Query in id order that never Scans."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from botocore.awsrequest import AWSResponse

from chat.errors import Conflict, InvalidInput, RoomLookAlike
from chat.storage import Dynamo, RoomRecord, RoomStore, TableNames, ensure_tables
from tests.dynamo_calls import watched

NOW = datetime(2026, 5, 1, 12, 0, 0, 250_000, tzinfo=UTC)


@pytest.fixture
def rooms(memory_db: Dynamo, tables: TableNames) -> RoomStore:
    return RoomStore(db=memory_db, tables=tables, clock=NOW.timestamp)


async def create(rooms: RoomStore, name: str, *, lookalike: str | None = None) -> tuple[RoomRecord, bool]:
    """Create ``name`` as a caller would: the id is the lower-cased name, the look-alike key given or the same."""
    room_id = name.lower()
    return await rooms.create(room_id=room_id, name=name, lookalike=lookalike or room_id, created_by="Alice")


async def test_ensure_tables_creates_rooms_and_read_markers(memory_db: Dynamo, tables: TableNames) -> None:
    ensure_tables(memory_db, tables)  # a second run (another process starting) changes nothing
    assert tables.rooms.endswith("Rooms")
    assert tables.markers.endswith("ReadMarkers")
    assert tables == TableNames.with_prefix(tables.users.removesuffix("Users"))
    described = memory_db.client.describe_table(TableName=tables.rooms)["Table"]
    assert described["KeySchema"] == [
        {"AttributeName": "Scope", "KeyType": "HASH"},
        {"AttributeName": "RoomKey", "KeyType": "RANGE"},
    ]
    described = memory_db.client.describe_table(TableName=tables.markers)["Table"]
    assert described["KeySchema"] == [
        {"AttributeName": "Reader", "KeyType": "HASH"},
        {"AttributeName": "Room", "KeyType": "RANGE"},
    ]
    ttl = memory_db.client.describe_time_to_live(TableName=tables.markers)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "ExpiresAt")


async def test_a_new_room_is_stored_with_its_name_and_the_server_time(
    rooms: RoomStore, memory_db: Dynamo, tables: TableNames
) -> None:
    room, created = await create(rooms, "General")
    assert created
    assert room == RoomRecord(id="general", name="General", created_at="2026-05-01T12:00:00.250Z")
    assert await rooms.get("general") == room
    items = memory_db.client.scan(TableName=tables.rooms)["Items"]  # the test looks at the table; the store never
    keys = sorted((i["Scope"]["S"], i["RoomKey"]["S"]) for i in items)
    assert keys == [("lookalike", "general"), ("room", "general")]
    assert next(i for i in items if i["Scope"]["S"] == "lookalike")["Room"] == {"S": "general"}
    assert next(i for i in items if i["Scope"]["S"] == "room")["CreatedBy"] == {"S": "Alice"}


async def test_a_taken_name_leads_to_the_room_already_there(rooms: RoomStore) -> None:
    first, _ = await create(rooms, "General")
    again, created = await rooms.create(room_id="general", name="GENERAL", lookalike="general", created_by="Bob")
    assert not created
    assert again == first  # the first creator's name and time, not the second's
    assert await rooms.list(limit=10) == [first]


async def test_a_look_alike_of_another_room_is_refused_and_names_that_room(rooms: RoomStore) -> None:
    general, _ = await create(rooms, "General", lookalike="genera1")
    with pytest.raises(RoomLookAlike) as refused:
        await rooms.create(room_id="genera1", name="Genera1", lookalike="genera1", created_by="Mallory")
    assert refused.value.message == "That name is too similar to the room 'General'. Pick another one."
    assert (refused.value.existing_id, refused.value.existing_name) == (general.id, general.name)
    assert isinstance(refused.value, Conflict)
    assert await rooms.get("genera1") is None  # the transaction wrote neither item
    assert await rooms.list(limit=10) == [general]


async def test_a_look_alike_item_left_without_its_room_does_not_lock_the_name(
    rooms: RoomStore, memory_db: Dynamo, tables: TableNames
) -> None:
    memory_db.client.put_item(  # as a half-restored backup might leave it
        TableName=tables.rooms,
        Item={"Scope": {"S": "lookalike"}, "RoomKey": {"S": "general"}, "Room": {"S": "general"}},
    )
    room, created = await create(rooms, "General")
    assert created
    assert await rooms.get("general") == room


async def test_of_concurrent_creates_of_one_name_exactly_one_wins(rooms: RoomStore) -> None:
    results = await asyncio.gather(
        *(rooms.create(room_id="general", name=f"General{i}", lookalike="general", created_by="Al") for i in range(8))
    )
    assert sum(created for _, created in results) == 1
    assert len({room for room, _ in results}) == 1  # the losers all got the winner's room


async def test_an_empty_id_or_look_alike_key_is_refused_before_dynamodb(rooms: RoomStore) -> None:
    for room_id, lookalike in (("", "x"), ("x", "")):
        with pytest.raises(InvalidInput):
            await rooms.create(room_id=room_id, name="x", lookalike=lookalike, created_by="Alice")
    assert await rooms.get("") is None


async def test_a_room_item_without_a_name_is_listed_under_its_id(
    rooms: RoomStore, memory_db: Dynamo, tables: TableNames
) -> None:
    memory_db.client.put_item(TableName=tables.rooms, Item={"Scope": {"S": "room"}, "RoomKey": {"S": "bare"}})
    assert await rooms.list(limit=10) == [RoomRecord(id="bare", name="bare", created_at="")]


async def test_list_is_in_id_order_up_to_the_limit_and_never_scans(rooms: RoomStore, memory_db: Dynamo) -> None:
    names = [f"Room{i:02}" for i in range(30)]
    for name in reversed(names):
        await create(rooms, name, lookalike=f"alike-{name}")  # look-alike items sort first in no listing
    with watched(memory_db, forbidden=("Scan",)) as calls:
        first = await rooms.list(limit=25)
        every = await rooms.list(limit=100)
        assert await rooms.list(limit=0) == []
    assert [room.id for room in first] == [name.lower() for name in names[:25]]
    assert [room.name for room in every] == names
    assert [call.operation for call in calls.calls] == ["Query", "Query"]
    assert [call.params["Limit"] for call in calls.calls] == [25, 100]
    assert calls.refused == []
    # the seam is live: a Scan through this client is refused, so the assertions above would have caught one
    with watched(memory_db, forbidden=("Scan",)) as calls, pytest.raises(AssertionError, match="Scan issued"):
        await memory_db.run(memory_db.client.scan, TableName="anything")
    assert calls.refused == ["Scan"]


async def test_list_follows_pages_that_dynamodb_ends_at_one_megabyte(
    rooms: RoomStore, memory_db: Dynamo, tables: TableNames
) -> None:
    for i in range(12):  # 200 KB each: a page holds about five
        await rooms.create(room_id=f"big{i:02}", name="x" * 200_000, lookalike=f"big{i:02}", created_by="Alice")
    with watched(memory_db, forbidden=("Scan",)) as calls:
        listed = await rooms.list(limit=11)
    assert [room.id for room in listed] == [f"big{i:02}" for i in range(11)]
    pages = calls.of("Query")
    assert len(pages) >= 3
    assert pages[1].params["ExclusiveStartKey"] == pages[0].answer["LastEvaluatedKey"]
    # each page asks only for what is still missing
    asked = [page.params["Limit"] for page in pages]
    assert asked == [11 - sum(len(q.answer["Items"]) for q in pages[:n]) for n in range(len(pages))]


class Cancelled:
    """Answers the first ``times`` TransactWriteItems calls as DynamoDB does when concurrent transactions on the
    same items cancel each other, before anything is sent: the race that moto's one storage thread never runs."""

    def __init__(self, db: Dynamo, times: int) -> None:
        self.left = times
        self.calls = 0
        db.client.meta.events.register("before-call.dynamodb.TransactWriteItems", self)

    def __call__(self, **_: object) -> tuple[AWSResponse, dict[str, object]] | None:
        self.calls += 1
        if self.left == 0:
            return None  # sent for real
        self.left -= 1
        answer = {
            "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
            "CancellationReasons": [{"Code": "TransactionConflict"}, {"Code": "None"}],
        }
        return AWSResponse("http://dynamodb", 400, {}, None), answer


async def test_a_create_cancelled_by_a_concurrent_one_tries_again(rooms: RoomStore, memory_db: Dynamo) -> None:
    cancelled = Cancelled(memory_db, times=2)
    room, created = await create(rooms, "General")
    assert created
    assert cancelled.calls == 3
    assert await rooms.get("general") == room


async def test_a_create_cancelled_every_time_gives_up_with_a_conflict(rooms: RoomStore, memory_db: Dynamo) -> None:
    cancelled = Cancelled(memory_db, times=100)
    with pytest.raises(Conflict, match="creating a room with this name right now"):
        await create(rooms, "General")
    assert cancelled.calls == 5
    assert await rooms.get("general") is None
