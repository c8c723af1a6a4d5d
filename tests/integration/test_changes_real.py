"""Edits, deletes, reactions and the change feed on the real DynamoDB Local: the sparse index on a real table, added
to a Messages table made before it existed, and concurrent reactions decided by the conditions."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from chat.errors import Conflict
from chat.models import REACTIONS, Draft
from chat.storage import Dynamo, MessageStore, TableNames, ensure_tables
from chat.storage.schema import CHANGES_INDEX, keyed_schema
from tests.conftest import plant
from tests.integration.cluster import drop_tables

pytestmark = pytest.mark.integration


async def test_the_change_feed_index_holds_changed_messages_only(dynamo: Dynamo, real_tables: TableNames) -> None:
    store = MessageStore(db=dynamo, tables=real_tables)
    one, two, three = [
        await store.put(Draft(room="lobby", author="Ann", author_id="ann", text=t, nonce=f"nonce-{t}"))
        for t in ("one", "two", "three")
    ]
    await store.changes.edit("lobby", two.key, author_id="ann", text="two!")
    await store.changes.react("lobby", one.key, author_id="bob", emoji=REACTIONS[0], on=True)
    changed, _ = await store.changes.after("lobby", "")
    assert [(m.key, m.version) for m in changed] == [(two.key, 1), (one.key, 1)]
    assert three.key not in {m.key for m in changed}  # an unchanged message is not in the sparse index


async def test_concurrent_reactions_of_many_people_are_all_kept_and_each_counted_once(
    dynamo: Dynamo, real_tables: TableNames
) -> None:
    store = MessageStore(db=dynamo, tables=real_tables)
    message = await store.put(Draft(room="lobby", author="Ann", author_id="ann", text="vote", nonce="nonce-vote"))
    people = [f"p{i}" for i in range(12)]
    # everyone twice at once: the second of each pair finds the reaction there and changes nothing
    results = await asyncio.gather(
        *(store.changes.react("lobby", message.key, author_id=p, emoji=REACTIONS[0], on=True) for p in people * 2)
    )
    assert sum(r.changed for r in results) == len(people)
    (shown,) = (await store.page("lobby", limit=5)).messages
    assert shown.reactions == ((REACTIONS[0], tuple(sorted(people))),)
    assert shown.version == len(people)


async def test_an_edit_to_the_same_text_and_a_full_reaction_change_nothing(
    dynamo: Dynamo, real_tables: TableNames, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("chat.storage.changes.MAX_REACTORS", 2)
    store = MessageStore(db=dynamo, tables=real_tables)
    message = await store.put(Draft(room="lobby", author="Ann", author_id="ann", text="same", nonce="nonce-same"))
    assert not (await store.changes.edit("lobby", message.key, author_id="ann", text="same")).changed
    for person in ("p1", "p2"):
        await store.changes.react("lobby", message.key, author_id=person, emoji=REACTIONS[0], on=True)
    with pytest.raises(Conflict, match="2 people reacted"):
        await store.changes.react("lobby", message.key, author_id="p3", emoji=REACTIONS[0], on=True)
    (shown,) = (await store.page("lobby", limit=5)).messages
    assert (shown.version, shown.edited_at, shown.reactions) == (2, None, ((REACTIONS[0], ("p1", "p2")),))


async def test_ensure_tables_adds_the_index_to_an_existing_messages_table_and_old_items_read_fine(
    dynamo: Dynamo,
) -> None:
    tables = TableNames.with_prefix(f"old{uuid.uuid4().hex[:8]}_")
    dynamo.client.create_table(**keyed_schema(tables.messages, "PartitionKey", "CreatedAt"))  # type: ignore[arg-type]
    try:
        dynamo.client.get_waiter("table_exists").wait(TableName=tables.messages)
        old_key = "2026-01-02T03:04:05.006Z#00000000000000ab"
        plant(dynamo, tables, key=old_key, text="from before the index")
        ensure_tables(dynamo, tables)
        indexes = dynamo.client.describe_table(TableName=tables.messages)["Table"]["GlobalSecondaryIndexes"]
        assert [(i["IndexName"], i["IndexStatus"]) for i in indexes] == [(CHANGES_INDEX, "ACTIVE")]
        store = MessageStore(db=dynamo, tables=tables)
        (old,) = (await store.page("lobby", limit=5)).messages
        assert (old.text, old.version, old.reactions) == ("from before the index", 0, ())
        edited = await store.changes.edit("lobby", old_key, author_id="planted", text="edited after")
        assert edited.message.version == 1
        changed, _ = await store.changes.after("lobby", "")
        assert [m.text for m in changed] == ["edited after"]
        ensure_tables(dynamo, tables)  # a second start finds it there
    finally:
        drop_tables(dynamo, tables)
