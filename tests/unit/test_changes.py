"""Edits, deletes and reactions: the conditional updates, the change feed, the hub's versions, the service's rules,
the broadcaster's shared payloads and the API."""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from chat import events
from chat.errors import Conflict, Forbidden, InvalidInput, InvalidText, NotFound
from chat.metrics import Metrics
from chat.models import REACTIONS, Draft, Message
from chat.service import ChatService
from chat.storage import Dynamo, MessageStore, TableNames
from chat.storage.schema import CHANGES_INDEX, ensure_tables, keyed_schema
from components.broadcast import _SHARED_PAYLOADS, Broadcaster
from tests.conftest import api_app
from tests.recording import RecordingSink, show
from tests.unit.test_api import join

THUMBS, HEART = REACTIONS[0], REACTIONS[1]


@pytest.fixture
def store(memory_db: Dynamo, tables: TableNames) -> MessageStore:
    return MessageStore(db=memory_db, tables=tables)


async def stored(store: MessageStore, text: str = "hello", author_id: str = "ann") -> Message:
    return await store.put(Draft(room="lobby", author="Ann", author_id=author_id, text=text, nonce=f"n-{text}-0001"))


# -- storage ---------------------------------------------------------------------------------------------
async def test_an_edit_replaces_the_text_and_bumps_the_version_and_the_change_key(store: MessageStore) -> None:
    original = await stored(store)
    assert (original.version, original.changed_at, original.edited_at) == (0, None, None)
    first = await store.changes.edit("lobby", original.key, author_id="ann", text="hello again")
    second = await store.changes.edit("lobby", original.key, author_id="ann", text="third")
    assert first.changed
    assert second.changed
    assert (first.message.text, first.message.version) == ("hello again", 1)
    assert (second.message.text, second.message.version) == ("third", 2)
    assert first.message.edited_at is not None
    assert first.message.changed_at is not None
    assert second.message.changed_at is not None
    assert second.message.changed_at > first.message.changed_at
    (shown,) = (await store.page("lobby", limit=5)).messages
    assert shown == second.message  # what a page reads is the message after its last change
    assert shown.nonce == original.nonce
    assert shown.key == original.key


async def test_only_the_author_may_edit_or_delete(store: MessageStore) -> None:
    original = await stored(store)
    with pytest.raises(Forbidden, match="You can only change your own messages"):
        await store.changes.edit("lobby", original.key, author_id="bob", text="mine now")
    with pytest.raises(Forbidden):
        await store.changes.delete("lobby", original.key, author_id="bob")
    (shown,) = (await store.page("lobby", limit=5)).messages
    assert shown == original


async def test_a_delete_empties_the_text_removes_the_reactions_and_blocks_edits_and_reactions(
    store: MessageStore, memory_db: Dynamo, tables: TableNames
) -> None:
    original = await stored(store)
    await store.changes.react("lobby", original.key, author_id="bob", emoji=THUMBS, on=True)
    deleted = await store.changes.delete("lobby", original.key, author_id="ann")
    assert deleted.changed
    assert (deleted.message.deleted, deleted.message.text, deleted.message.reactions) == (True, "", ())
    assert deleted.message.version == 2
    again = await store.changes.delete("lobby", original.key, author_id="ann")
    assert not again.changed
    assert again.message.version == 2
    with pytest.raises(Conflict, match="deleted"):
        await store.changes.edit("lobby", original.key, author_id="ann", text="back")
    with pytest.raises(Conflict, match="deleted"):
        await store.changes.react("lobby", original.key, author_id="bob", emoji=HEART, on=True)
    item = memory_db.client.get_item(
        TableName=tables.messages,
        Key={"PartitionKey": {"S": "lobby"}, "CreatedAt": {"S": original.key}},
    )["Item"]
    assert item["Text"] == {"S": ""}
    assert not any(name.startswith("Reaction") for name in item)


async def test_reactions_are_one_set_per_emoji_and_a_repeated_intent_bumps_nothing(store: MessageStore) -> None:
    original = await stored(store)
    added = await store.changes.react("lobby", original.key, author_id="bob", emoji=THUMBS, on=True)
    assert added.changed
    assert added.message.reactions == ((THUMBS, ("bob",)),)
    assert added.message.version == 1
    replay = await store.changes.react("lobby", original.key, author_id="bob", emoji=THUMBS, on=True)
    assert not replay.changed
    assert replay.message.version == 1
    both = await store.changes.react("lobby", original.key, author_id="ann", emoji=THUMBS, on=True)
    assert both.message.reactions == ((THUMBS, ("ann", "bob")),)
    heart = await store.changes.react("lobby", original.key, author_id="ann", emoji=HEART, on=True)
    assert heart.message.reactions == ((THUMBS, ("ann", "bob")), (HEART, ("ann",)))
    removed = await store.changes.react("lobby", original.key, author_id="bob", emoji=THUMBS, on=False)
    assert removed.message.reactions == ((THUMBS, ("ann",)), (HEART, ("ann",)))
    gone = await store.changes.react("lobby", original.key, author_id="bob", emoji=THUMBS, on=False)
    assert not gone.changed
    assert gone.message.version == removed.message.version == 4


async def test_a_change_of_a_missing_message_or_a_nonce_record_is_not_found(store: MessageStore) -> None:
    original = await stored(store)
    missing = original.key[:-1] + ("0" if original.key[-1] != "0" else "1")
    for call in (
        store.changes.edit("lobby", missing, author_id="ann", text="x"),
        store.changes.delete("elsewhere", original.key, author_id="ann"),
        store.changes.react("lobby", missing, author_id="ann", emoji=THUMBS, on=True),
        # the idempotency record's partition: an item, but not a message
        store.changes.delete("nonce:lobby:ann", original.nonce, author_id="ann"),
    ):
        with pytest.raises(NotFound):
            await call
    assert len((await store.page("lobby", limit=5)).messages) == 1


async def test_the_change_feed_holds_changed_messages_only_in_the_order_of_their_last_change(
    store: MessageStore,
) -> None:
    first, second, untouched = [await stored(store, text) for text in ("one", "two", "three")]
    await store.changes.edit("lobby", second.key, author_id="ann", text="two!")
    floor = (await store.changes.edit("lobby", first.key, author_id="ann", text="one!")).message.changed_at
    await store.changes.react("lobby", second.key, author_id="bob", emoji=THUMBS, on=True)
    changed, cursor = await store.changes.after("lobby", "")
    assert [(m.key, m.version) for m in changed] == [(first.key, 1), (second.key, 2)]
    assert cursor is None
    assert untouched.key not in {m.key for m in changed}
    assert floor is not None
    later, _ = await store.changes.after("lobby", floor)
    assert [m.text for m in later] == ["two!"]
    page, cursor = await store.changes.after("lobby", "", limit=1)
    assert [m.key for m in page] == [first.key]
    assert cursor == page[0].changed_at
    rest, _ = await store.changes.after("lobby", cursor or "")
    assert [m.key for m in rest] == [second.key]


def test_ensure_tables_adds_the_change_index_to_a_messages_table_made_without_it(
    moto_dynamo: Dynamo, tables: TableNames
) -> None:
    moto_dynamo.client.create_table(**keyed_schema(tables.messages, "PartitionKey", "CreatedAt"))  # type: ignore[arg-type]
    ensure_tables(moto_dynamo, tables)
    indexes = moto_dynamo.client.describe_table(TableName=tables.messages)["Table"]["GlobalSecondaryIndexes"]
    assert [(i["IndexName"], i["IndexStatus"]) for i in indexes] == [(CHANGES_INDEX, "ACTIVE")]
    ensure_tables(moto_dynamo, tables)  # again: nothing to add


def test_an_old_item_without_the_new_attributes_reads_as_never_changed() -> None:
    from chat.storage.items import from_item

    message = from_item(
        {
            "PartitionKey": {"S": "lobby"},
            "CreatedAt": {"S": "2026-01-02T03:04:05.006Z#00000000000000ab"},
            "DisplayName": {"S": "Old"},
            "AuthorId": {"S": "old"},
            "Text": {"S": "from before"},
            "Version": {"N": "not a number"},
            "Reaction0": {"S": "not a set"},
        }
    )
    assert message is not None
    assert (message.version, message.reactions, message.deleted, message.changed_at) == (0, (), False, None)


def test_a_changed_message_round_trips_through_its_json() -> None:
    message = Message(
        room="lobby",
        key="2026-01-02T03:04:05.006Z#00000000000000ab",
        author="Ann",
        author_id="ann",
        text="hi",
        version=3,
        edited_at="2026-01-02T03:05:00.000Z",
        reactions=((THUMBS, ("ann", "bob")),),
        changed_at="2026-01-02T03:05:00.000Z#00000000000000cd",
    )
    data = message.to_json()
    assert data["reactions"] == {THUMBS: ["ann", "bob"]}
    assert data["version"] == 3
    assert Message.from_json(data) == message
    for bad in ({"version": -1}, {"version": True}, {"reactions": {THUMBS: "ann"}}, {"changed_at": "soon"}):
        with pytest.raises((TypeError, ValueError)):
            Message.from_json({**data, **bad})


# -- hub -------------------------------------------------------------------------------------------------
async def test_the_hub_hands_each_version_once_and_ignores_older_ones(memory_service: ChatService) -> None:
    sink = RecordingSink()
    memory_service.hub.attach(sink)
    await show(memory_service.hub, "lobby")
    session = await memory_service.register("Kim")
    original = await memory_service.send(session, "first")
    edited = await memory_service.edit(session, "lobby", original.key, "first, edited")
    assert [(m.key, m.version) for m in sink.of("lobby")] == [(original.key, 0), (edited.key, 1)]
    # the same change again from the bus, and the original from a late catch-up: both are old news
    memory_service.hub.on_event("lobby", events.message_changed("update", edited))
    memory_service.hub.on_event("lobby", events.message_added(original))
    assert len(sink.of("lobby")) == 2


async def test_catch_up_delivers_a_change_that_was_never_announced_once(memory_service: ChatService) -> None:
    sink = RecordingSink()
    memory_service.hub.attach(sink)
    await show(memory_service.hub, "lobby")
    session = await memory_service.register("Kim")
    original = await memory_service.send(session, "hello")
    await memory_service.hub.catch_up("lobby")  # the first catch-up after the prime reads from its start
    # stored by another process whose announcement was lost
    change = await memory_service.messages.changes.react("lobby", original.key, author_id="x", emoji=HEART, on=True)
    assert sink.of("lobby") == [original]
    await memory_service.hub.catch_up("lobby")
    assert sink.of("lobby") == [original, change.message]
    await memory_service.hub.catch_up("lobby")  # the overlap reads it again: not handed twice
    assert sink.of("lobby") == [original, change.message]


async def test_a_room_not_shown_here_ignores_changes(memory_service: ChatService) -> None:
    sink = RecordingSink()
    memory_service.hub.attach(sink)
    session = await memory_service.register("Kim")
    original = await memory_service.send(session, "hello")
    await memory_service.edit(session, "lobby", original.key, "hello?")
    assert sink.of("lobby") == []


# -- service ---------------------------------------------------------------------------------------------
async def test_the_service_refuses_with_reasons_and_announces_only_what_changed(memory_service: ChatService) -> None:
    sink = RecordingSink()
    memory_service.hub.attach(sink)
    await show(memory_service.hub, "lobby")
    ann, bob = await memory_service.register("Ann"), await memory_service.register("Bob")
    message = await memory_service.send(ann, "hello")
    with pytest.raises(InvalidText, match="empty"):
        await memory_service.edit(ann, "lobby", message.key, "   ")
    with pytest.raises(InvalidText, match="limit"):
        await memory_service.edit(ann, "lobby", message.key, "x" * (memory_service.limits.max_message_length + 1))
    with pytest.raises(Forbidden):
        await memory_service.edit(bob, "lobby", message.key, "Bob was here")
    with pytest.raises(InvalidInput, match="palette"):
        await memory_service.react(bob, "lobby", message.key, "🦄", on=True)
    with pytest.raises(NotFound):
        await memory_service.react(bob, "lobby", "not a key", THUMBS, on=True)
    with pytest.raises(NotFound):
        await memory_service.delete(ann, "no such room", message.key)
    await memory_service.react(bob, "lobby", message.key, THUMBS, on=True)
    await memory_service.react(bob, "lobby", message.key, THUMBS, on=True)  # a replay: nothing to announce
    await memory_service.delete(ann, "lobby", message.key)
    with pytest.raises(Conflict):
        await memory_service.react(bob, "lobby", message.key, HEART, on=True)
    assert [m.version for m in sink.of("lobby")] == [0, 1, 2]
    assert sink.of("lobby")[-1].deleted


# -- broadcaster -----------------------------------------------------------------------------------------
async def test_the_shared_payload_of_a_key_is_replaced_by_a_higher_version_only(
    memory_service: ChatService,
) -> None:
    broadcaster = Broadcaster(memory_service.hub, lobby_id="lobby", metrics=Metrics())
    session = await memory_service.register("Ann")
    original = await memory_service.send(session, "hello")
    (first,) = broadcaster.payloads([original])
    edited = await memory_service.edit(session, "lobby", original.key, "hello!")
    (second,) = broadcaster.payloads([edited])
    assert (second["text"], second["version"]) == ("hello!", 1)
    assert first["text"] == "hello"  # a view holding the old dict keeps it unchanged
    (again,) = broadcaster.payloads([original])  # a stale copy (a late page read) never serves the old version
    assert again is second
    assert broadcaster.payloads([edited])[0] is second


# -- API -------------------------------------------------------------------------------------------------
@pytest.fixture
async def client(memory_service: ChatService) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(api_app(memory_service))
    async with httpx.AsyncClient(transport=transport, base_url="http://chat.test") as client:
        yield client


def url(key: str, emoji: str | None = None) -> str:
    path = f"/api/rooms/lobby/messages/{urllib.parse.quote(key, safe='')}"
    return path if emoji is None else f"{path}/reactions/{urllib.parse.quote(emoji, safe='')}"


async def test_the_api_edits_deletes_and_reacts_with_clear_refusals(client: httpx.AsyncClient) -> None:
    ann, bob = await join(client, "Ann"), await join(client, "Bob")
    posted: dict[str, Any] = (await client.post("/api/messages", json={"text": "hi"}, headers=ann)).json()
    key = posted["key"]
    edited = await client.patch(url(key), json={"text": "hi all"}, headers=ann)
    assert edited.status_code == 200, edited.text
    assert (edited.json()["text"], edited.json()["version"]) == ("hi all", 1)
    assert edited.json()["edited_at"] is not None
    refused = await client.patch(url(key), json={"text": "mine"}, headers=bob)
    assert (refused.status_code, refused.json()) == (403, {"detail": "You can only change your own messages."})
    assert (await client.delete(url(key), headers=bob)).status_code == 403
    assert (await client.patch(url(key), json={"text": ""}, headers=ann)).status_code == 422
    reacted = await client.put(url(key, THUMBS), headers=bob)
    assert reacted.status_code == 200
    assert [(emoji, len(who)) for emoji, who in reacted.json()["reactions"].items()] == [(THUMBS, 1)]
    assert (await client.put(url(key, "🦄"), headers=bob)).status_code == 422
    unreacted = await client.delete(url(key, THUMBS), headers=bob)
    assert unreacted.status_code == 200
    assert unreacted.json()["reactions"] == {}
    missing = key[:-1] + ("0" if key[-1] != "0" else "1")
    assert (await client.patch(url(missing), json={"text": "x"}, headers=ann)).status_code == 404
    assert (await client.delete(url(key), headers=ann)).json()["deleted"] is True
    assert (await client.put(url(key, HEART), headers=bob)).status_code == 409
    assert (await client.patch(url(key), json={"text": "back"}, headers=ann)).status_code == 409
    assert (await client.delete(url(key))).status_code == 401
    (shown,) = (await client.get("/api/messages", headers=ann)).json()["messages"]
    assert (shown["deleted"], shown["text"], shown["version"]) == (True, "", 4)


async def test_the_openapi_schema_documents_the_change_routes_and_their_refusals(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    message, reaction = (
        paths["/api/rooms/{room}/messages/{key}"],
        paths["/api/rooms/{room}/messages/{key}/reactions/{emoji}"],
    )
    assert set(message) == {"patch", "delete"}
    assert set(reaction) == {"put", "delete"}
    for operation in (*message.values(), *reaction.values()):
        assert {"401", "403", "404", "409", "422"} <= set(operation["responses"])


async def test_an_edit_to_the_same_text_stores_nothing_and_announces_nothing(memory_service: ChatService) -> None:
    sink = RecordingSink()
    memory_service.hub.attach(sink)
    await show(memory_service.hub, "lobby")
    session = await memory_service.register("Ann")
    original = await memory_service.send(session, "hello")
    for again in ("hello", "  hello \n"):  # the same text once cleaned, as a replayed save sends it
        same = await memory_service.edit(session, "lobby", original.key, again)
        assert same == original
    (shown,) = (await memory_service.history("lobby")).messages
    assert (shown.version, shown.edited_at, shown.changed_at) == (0, None, None)  # not marked "(edited)"
    assert sink.of("lobby") == [original]
    edited = await memory_service.edit(session, "lobby", original.key, "hello!")
    assert await memory_service.edit(session, "lobby", original.key, "hello!") == edited
    assert [m.version for m in sink.of("lobby")] == [0, 1]
    with pytest.raises(Forbidden):  # the same text is still someone else's message
        await memory_service.edit(await memory_service.register("Bob"), "lobby", original.key, "hello!")


async def test_an_edit_without_a_body_or_with_the_wrong_key_says_what_to_send(client: httpx.AsyncClient) -> None:
    ann = await join(client, "Ann")
    key = (await client.post("/api/messages", json={"text": "hi"}, headers=ann)).json()["key"]
    bare = await client.patch(url(key), headers=ann)
    assert (bare.status_code, bare.json()) == (422, {"detail": "This request needs a JSON body."})
    percent = await client.patch(url(key).replace("%23", "%2523"), json={"text": "x"}, headers=ann)  # encoded twice
    assert (percent.status_code, percent.json()) == (404, {"detail": "There is no such message."})
    elsewhere = await client.patch(url(key).replace("/lobby/", "/elsewhere/"), json={"text": "x"}, headers=ann)
    assert elsewhere.status_code == 404
    (shown,) = (await client.get("/api/messages", headers=ann)).json()["messages"]
    assert (shown["text"], shown["version"]) == ("hi", 0)


async def test_a_new_version_stays_in_the_shared_payloads_as_long_as_a_new_message_would(
    memory_service: ChatService,
) -> None:
    broadcaster = Broadcaster(memory_service.hub, lobby_id="lobby", metrics=Metrics())
    session = await memory_service.register("Ann")
    original = await memory_service.send(session, "hello")
    broadcaster.payloads([original])  # shared first, so the oldest entry
    others = range(1, _SHARED_PAYLOADS)  # a full cache, with the original its oldest entry
    broadcaster.payloads(dataclasses.replace(original, key=f"{original.key[:-16]}{n:016x}") for n in others)
    edited = await memory_service.edit(session, "lobby", original.key, "hello!")
    broadcaster.payloads([edited])  # the edit reaches the process: the newest entry now
    broadcaster.payloads([dataclasses.replace(original, key=f"{original.key[:-16]}{'f' * 16}")])  # one is let go
    (late,) = broadcaster.payloads([original])  # a page read before the edit reached DynamoDB's replicas
    assert (late["text"], late["version"]) == ("hello!", 1)


async def test_a_reaction_holds_a_bounded_number_of_people(
    store: MessageStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every reactor's id travels to every tab with the message: sessions made for it cannot grow it without end
    monkeypatch.setattr("chat.storage.changes.MAX_REACTORS", 3)
    original = await stored(store)
    for reactor in ("a", "b", "c"):
        await store.changes.react("lobby", original.key, author_id=reactor, emoji=THUMBS, on=True)
    with pytest.raises(Conflict, match="3 people reacted with 👍 already"):
        await store.changes.react("lobby", original.key, author_id="d", emoji=THUMBS, on=True)
    again = await store.changes.react("lobby", original.key, author_id="a", emoji=THUMBS, on=True)
    assert not again.changed  # one of them, again: no change, no refusal
    other = await store.changes.react("lobby", original.key, author_id="d", emoji=HEART, on=True)
    assert other.changed
    await store.changes.react("lobby", original.key, author_id="a", emoji=THUMBS, on=False)
    room = await store.changes.react("lobby", original.key, author_id="d", emoji=THUMBS, on=True)
    assert dict(room.message.reactions)[THUMBS] == ("b", "c", "d")
