"""ChatService on the real DynamoDB Local and Redis: two app processes, history pages, sessions and their expiry."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from chat.errors import NameTaken, NotLoggedIn
from chat.events import Event
from chat.hub import Hub
from chat.models import Session, session_digest
from chat.names import alias_key
from chat.storage import Dynamo, TableNames
from tests.helpers import wait_for

from .cluster import Cluster, stored
from .tally import tally

pytestmark = pytest.mark.integration

Report = Callable[[str, object], None]


async def test_messages_reach_another_process_live_and_read_back_in_pages(
    cluster: Cluster, redis_url: str, record_property: Report
) -> None:
    sender = await cluster.node(redis_url=redis_url)
    other = await cluster.node(redis_url=redis_url, start=False)
    # what reaches the other process through Redis, before the hub drops what it has already seen
    via_redis: list[str] = []

    def on_event(room: str | None, event: Event) -> None:
        if event["type"] == "message":
            via_redis.append(event["message"]["key"])
        Hub.on_event(other.hub, room, event)

    other.hub.on_event = on_event  # type: ignore[method-assign]
    await other.start()
    here = await sender.show(cluster.room, "sender's view")
    there = await other.show(cluster.room, "other process's view")

    alice = await sender.service.register("Alice")
    with pytest.raises(NameTaken):
        await other.service.register("ALICE")  # one name, whichever process is asked
    bob = await other.service.register("Bob")

    sent = [await sender.service.send(alice, f"message {i}") for i in range(44)]
    sent.append(await other.service.send(bob, "hello from the other process"))
    sent.append(await sender.service.send(alice, "last"))
    keys = [m.key for m in sent]
    assert await wait_for(lambda: here.has_all(keys) and there.has_all(keys), timeout=10), "live delivery stalled"

    # every message of the sender came to the other process through Redis, not only through a catch-up query
    alice_keys = [m.key for m in sent if m.author == "Alice"]
    assert set(alice_keys) <= set(via_redis)
    assert len(via_redis) == len(sent)  # its own message too: the publisher's process is also a subscriber

    # history, page by page, from either process: newest page first, each page oldest first
    pages = []
    before: str | None = None
    while True:
        page = await other.service.history(cluster.room, before=before, limit=20)
        pages.append([m.key for m in page.messages])
        if page.cursor is None:
            break
        assert page.cursor == page.messages[0].key
        before = page.cursor
    assert [len(p) for p in pages] == [20, 20, 6]
    assert [k for p in reversed(pages) for k in p] == sorted(keys)
    everything = await stored(sender.service)
    assert [m.key for m in everything] == sorted(keys)
    assert {m.key: m for m in everything} == {m.key: m for m in sent}  # author, text and room as sent
    ordered = sorted(sent, key=lambda m: m.key)
    # a reader whose newest is ordered[9] gets what it lacks, from a little before it (the overlap: all of these)
    assert await sender.service.since(cluster.room, ordered[9].key) == ordered

    for view in (here, there):
        counts = tally(view, sorted(keys))
        print(counts.line())
        record_property(view.name, counts.line())
        assert (counts.lost, counts.duplicated, counts.unexpected, counts.out_of_order) == (0, 0, 0, 0)

    # logging out in one process ends the session's views in the other, and frees the name everywhere
    await sender.service.logout(alice)
    assert await wait_for(lambda: session_digest(alice.token) in other.tabs.ended, timeout=10)
    with pytest.raises(NotLoggedIn):
        await other.service.resume(alice.token)
    with pytest.raises(NotLoggedIn):
        await sender.service.send(alice, "after logout")
    again = await other.service.register("alice")
    assert again.name == "alice"
    assert len(await stored(sender.service)) == len(sent)


def _raw_user(dynamo: Dynamo, tables: TableNames, key: str) -> dict[str, dict[str, str]] | None:
    return dynamo.client.get_item(TableName=tables.users, Key={"UserName": {"S": key}}, ConsistentRead=True).get("Item")  # type: ignore[return-value]


async def test_an_expired_session_is_refused_and_its_name_can_be_claimed_again(
    cluster: Cluster, redis_url: str, dynamo: Dynamo, real_tables: TableNames
) -> None:
    ttl = 3600
    # a process whose clock is an hour and a minute behind hands out a session that expired a minute ago
    past = await cluster.node(
        redis_url=redis_url, session_ttl_seconds=ttl, clock=lambda: time.time() - ttl - 60, start=False
    )
    now = await cluster.node(redis_url=redis_url, session_ttl_seconds=ttl, start=False)

    old = await past.service.register("Casey")
    assert old.expires_at < time.time()
    # DynamoDB deletes expired items lazily (within days), so the item is still there: only the read filters it
    item = _raw_user(dynamo, real_tables, old.name_key)
    assert item is not None
    assert item["SessionId"]["S"] == session_digest(old.token)
    with pytest.raises(NotLoggedIn):
        await now.service.resume(old.token)  # through the session index
    with pytest.raises(NotLoggedIn):
        await now.service.resume(old.token, name=old.name)  # the consistent read by name
    with pytest.raises(NotLoggedIn):
        await now.service.send(old, "too late")
    assert await stored(now.service) == []

    new = await now.service.register("casey")  # the conditional put lets a claim replace an expired holder
    assert alias_key(new.name) == alias_key(old.name)
    assert _raw_user(dynamo, real_tables, alias_key(new.name))["Holder"]["S"] == session_digest(new.token)  # type: ignore[index]
    assert (await now.service.resume(new.token, name="casey")).token == new.token
    with pytest.raises(NotLoggedIn):
        await now.service.resume(old.token, name=old.name)

    # a live session past half its lifetime is extended on use, so only inactivity ends it
    aging = await cluster.node(
        redis_url=redis_url, session_ttl_seconds=ttl, clock=lambda: time.time() - ttl * 3 / 4, start=False
    )
    dana = await aging.service.register("Dana")
    assert dana.expires_at < time.time() + ttl / 2
    resumed = await now.service.resume(dana.token)
    assert resumed.expires_at >= int(time.time()) + ttl - 5
    for key in (dana.name_key, alias_key(dana.name)):  # both items of the name
        assert int(_raw_user(dynamo, real_tables, key)["ExpiresAt"]["N"]) == resumed.expires_at  # type: ignore[index]


async def test_of_100_concurrent_claims_of_one_name_exactly_one_wins(
    cluster: Cluster, redis_url: str, dynamo: Dynamo, real_tables: TableNames, record_property: Report
) -> None:
    first = await cluster.node(redis_url=redis_url, start=False)
    second = await cluster.node(redis_url=redis_url, start=False)
    # spellings that are one name: case, width, surrounding spaces
    spellings = ["Morgan", "MORGAN", "morgan", "Ｍｏｒｇａｎ", " Morgan "]
    assert len({alias_key(s.strip()) for s in spellings}) == 1
    claims = [(first if i % 2 else second).service.register(spellings[i % len(spellings)]) for i in range(100)]
    started = time.monotonic()
    results = await asyncio.gather(*claims, return_exceptions=True)
    elapsed = time.monotonic() - started

    winners = [r for r in results if isinstance(r, Session)]
    refused = [r for r in results if isinstance(r, NameTaken)]
    other = [r for r in results if not isinstance(r, Session | NameTaken)]
    line = f"claims=100 won={len(winners)} name_taken={len(refused)} other={len(other)} in {elapsed:.2f} s"
    print(line)
    record_property("claims", line)
    assert other == []
    assert len(winners) == 1
    assert len(refused) == 99
    (winner,) = winners
    assert _raw_user(dynamo, real_tables, winner.name_key)["SessionId"]["S"] == session_digest(winner.token)  # type: ignore[index]
    for node in (first, second):
        assert (await node.service.resume(winner.token, name=winner.name)).token == winner.token
        assert (await node.service.resume(winner.token)).token == winner.token
