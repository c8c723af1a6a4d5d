"""Unread counts right after joining: read markers are written to DynamoDB once per interval, so the counts must also
take the markers this process moved and has not written yet."""

from __future__ import annotations

import asyncio

from chat.service import ChatService
from chat.storage import Dynamo
from tests.dynamo_calls import watched


async def test_a_session_that_just_joined_finds_nothing_unread_from_before_it_joined(
    memory_service: ChatService,
) -> None:
    # the service's read tracker is not started: no marker reaches the table unless flushed
    writer = await memory_service.register("writer")
    room, _ = await memory_service.create_room(writer, "elsewhere")
    for i in range(3):
        await memory_service.send(writer, f"before the reader joined {i}", room=room.id)
    await asyncio.sleep(0.01)  # keys are stamped to the millisecond
    reader = await memory_service.register("reader")
    assert await memory_service.unread(reader, [room]) == {}
    await asyncio.sleep(0.01)
    await memory_service.send(writer, "after the reader joined", room=room.id)
    assert await memory_service.unread(reader, [room]) == {room.id: 1}


async def test_a_room_read_here_a_moment_ago_counts_only_what_came_after(memory_service: ChatService) -> None:
    writer = await memory_service.register("writer")
    reader = await memory_service.register("reader")
    room, _ = await memory_service.create_room(writer, "elsewhere")
    await asyncio.sleep(0.01)
    seen = await memory_service.send(writer, "seen", room=room.id)
    memory_service.mark_read(reader, room.id, seen.key)
    await memory_service.send(writer, "not seen yet", room=room.id)
    assert await memory_service.unread(reader, [room]) == {room.id: 1}


async def test_counting_no_rooms_reads_nothing(memory_service: ChatService, memory_db: Dynamo) -> None:
    reader = await memory_service.register("Ann")
    with watched(memory_db) as calls:
        assert await memory_service.unread(reader, []) == {}
    assert calls.calls == []
