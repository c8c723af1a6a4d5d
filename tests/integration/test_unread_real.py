"""Unread counts and read markers on DynamoDB Local, between two app processes on a real redis-server.

A session counts what was posted in each room since it joined, or since its read marker there: exact up to
UNREAD_CAP, the cap beyond. Marking a room read clears it for that session only, in every process, and one's own
posts count as read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from chat.models import Message, Session
from chat.service import UNREAD_CAP
from chat.storage import Dynamo, MarkerStore, TableNames
from tests.helpers import wait_for

from .cluster import Cluster, Node, make_rooms, unique_room

pytestmark = pytest.mark.integration

Report = Callable[[str, object], None]


async def post(node: Node, session: Session, room: str, count: int) -> list[Message]:
    """``count`` messages in ``room``, fifty at a time; returned in key order."""
    messages: list[Message] = []
    for start in range(0, count, 50):
        batch = range(start, min(start + 50, count))
        messages += await asyncio.gather(*(node.service.send(session, f"{room} {i}", room=room) for i in batch))
    return sorted(messages, key=lambda m: m.key)


async def written(*nodes: Node) -> None:
    """Write every read marker the nodes hold, as each does within a second on its own."""
    for node in nodes:
        await node.service.reads.flush()


async def test_unread_counts_are_exact_below_the_cap_capped_above_it_and_cleared_per_session(
    cluster: Cluster, redis_url: str, dynamo: Dynamo, real_tables: TableNames, record_property: Report
) -> None:
    one, two = [await cluster.node(redis_url=redis_url) for _ in range(2)]
    poster = await one.service.register("Poster")
    alice = await one.service.register("Alice")
    bob = await two.service.register("Bob")
    quiet, busy, single = [r.id for r in await make_rooms(one, poster, [unique_room() for _ in range(3)])]
    await written(one, two)  # where each session joined: what is posted from now on is unread

    posted = {quiet: await post(one, poster, quiet, 5), busy: await post(one, poster, busy, UNREAD_CAP + 30)}
    posted[single] = await post(two, poster, single, 1)
    await written(one, two)  # the poster's own posts are read
    late = await two.service.register("Late")  # joins after every message
    await written(two)

    rooms = await two.service.rooms()
    assert [r.id for r in rooms] == [cluster.room, *sorted((quiet, busy, single))]
    every_room = {quiet: 5, busy: UNREAD_CAP, single: 1}  # the lobby has nothing: it is left out
    for node in (one, two):  # each process counts from DynamoDB, whatever it heard itself
        assert await node.service.unread(alice, rooms) == every_room
        assert await node.service.unread(bob, rooms) == every_room
        assert await node.service.unread(poster, rooms) == {}
        assert await node.service.unread(late, rooms) == {}

    # Alice reads the quiet room to its end and the busy one up to 80 before its end, in process one
    one.service.mark_read(alice, quiet, posted[quiet][-1].key)
    one.service.mark_read(alice, busy, posted[busy][-81].key)
    one.service.mark_read(alice, single, "not a key")  # ignored: no marker can be set past every key
    await written(one)
    for node in (one, two):
        assert await node.service.unread(alice, rooms) == {busy: 80, single: 1}
        assert await node.service.unread(bob, rooms) == every_room  # Bob read nothing
    markers = await MarkerStore(db=dynamo, tables=real_tables).of_reader(alice.author_id)
    assert (markers[quiet], markers[busy]) == (posted[quiet][-1].key, posted[busy][-81].key)
    assert single not in markers

    # a marker moves forward only: reading an older message in another process changes nothing
    two.service.mark_read(alice, busy, posted[busy][0].key)
    await written(two)
    assert await one.service.unread(alice, rooms) == {busy: 80, single: 1}

    # the other process's tabs of Alice hear what she read, to clear their counts
    assert await wait_for(lambda: (alice.author_id, quiet, posted[quiet][-1].key) in two.tabs.reads, timeout=5)

    # a message posted after Alice's marker counts again, for her and for Bob
    newer = await two.service.send(poster, "one more", room=quiet)
    assert newer.key > posted[quiet][-1].key
    assert await two.service.unread(alice, rooms) == {quiet: 1, busy: 80, single: 1}
    assert await two.service.unread(bob, rooms) == {**every_room, quiet: 6}
    record_property("unread", {"alice": {quiet: 1, busy: 80, single: 1}, "bob": {**every_room, quiet: 6}})


async def test_a_new_session_and_a_room_just_read_count_nothing_unread_at_once(
    cluster: Cluster, redis_url: str
) -> None:
    """The page shows the room list's counts right after joining, and right after leaving a room for another:
    markers moved an instant ago, not yet written to DynamoDB, must count already."""
    node = await cluster.node(redis_url=redis_url)
    poster = await node.service.register("Poster")
    reader = await node.service.register("Reader")
    await written(node)
    [room] = [r.id for r in await make_rooms(node, poster, [unique_room()])]
    messages = await post(node, poster, room, 3)
    await written(node)
    rooms = await node.service.rooms()
    assert await node.service.unread(reader, rooms) == {room: 3}

    newcomer = await node.service.register("Newcomer")
    assert await node.service.unread(newcomer, rooms) == {}  # what came before joining is not unread

    node.service.mark_read(reader, room, messages[-1].key)  # the reader's tab of the room closes
    assert await node.service.unread(reader, rooms) == {}  # the next page's room list


async def test_a_session_that_joined_on_one_process_counts_nothing_old_on_another_at_once(
    cluster: Cluster, redis_url: str
) -> None:
    one, two = [await cluster.node(redis_url=redis_url) for _ in range(2)]
    poster = await one.service.register("Poster")
    [room] = [r.id for r in await make_rooms(one, poster, [unique_room()])]
    await post(one, poster, room, 7)
    newcomer = await one.service.register("Newcomer")  # no flush: its page opens elsewhere right away
    assert await two.service.unread(newcomer, await two.service.rooms()) == {}
    await post(one, poster, room, 2)

    counts: dict[str, int] = {}
    for _ in range(40):  # the other process hears of the room's activity within a second
        counts = await two.service.unread(newcomer, await two.service.rooms())
        if counts:
            break
        await asyncio.sleep(0.05)
    assert counts == {room: 2}
