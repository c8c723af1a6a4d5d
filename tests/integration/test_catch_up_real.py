"""The hub's catch-up on real DynamoDB in a busy room: it must find every message whose announcement was lost."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from chat.models import Draft, Message, new_nonce

from .cluster import Cluster

pytestmark = pytest.mark.integration

Report = Callable[[str, object], None]


async def test_catch_up_finds_missed_messages_in_a_room_with_more_than_500_messages_in_30_seconds(
    cluster: Cluster, redis_url: str, record_property: Report
) -> None:
    node = await cluster.node(redis_url=redis_url)
    view = await node.show(cluster.room)
    store = node.service.messages  # the process's own MessageStore; writes below skip the announcement

    def message(text: str) -> Draft:
        return Draft(room=cluster.room, author="Busy", author_id="busy", text=text, nonce=new_nonce())

    async def put_all(drafts: list[Draft]) -> list[Message]:
        stored: list[Message] = []
        for start in range(0, len(drafts), 50):
            stored += await asyncio.gather(*(store.put(d) for d in drafts[start : start + 50]))
        return stored

    # 520 messages within a few seconds, all seen live by this process ...
    seen = await put_all([message(f"seen {i}") for i in range(520)])
    node.hub.deliver(cluster.room, seen)
    # ... then 10 more from another process whose announcements were lost (Redis was down for it)
    missed = await put_all([message(f"missed {i}") for i in range(10)])

    await node.hub.catch_up(cluster.room)  # what the reconnect does
    await node.hub.catch_up(cluster.room)  # and the timer after it
    not_delivered = sum(1 for m in missed if not view.has_all([m.key]))
    line = f"seen=520 missed=10 delivered_by_catch_up={10 - not_delivered} never_delivered={not_delivered}"
    print(line)
    record_property("catch_up", line)
    assert not_delivered == 0
