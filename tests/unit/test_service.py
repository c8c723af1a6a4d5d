"""ChatService on moto and fakeredis: check, do, announce."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from fakeredis import FakeAsyncRedis, FakeServer

from chat.bus import Bus
from chat.errors import InvalidInput, InvalidName, InvalidText, NameTaken, NotLoggedIn, RateLimited
from chat.models import session_digest
from chat.service import ChatService
from chat.storage import Dynamo, TableNames
from tests.conftest import BUS_KEY, make_service, plant
from tests.helpers import wait_for
from tests.recording import RecordingSink, show


def _counted(calls: list[str], name: str, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(name)
        return await method(*args, **kwargs)

    return wrapper


async def test_register_resume_logout_frees_the_name(memory_service: ChatService) -> None:
    session = await memory_service.register("  Alice ")
    assert session.name == "Alice"
    assert await memory_service.resume(session.token) == session
    assert await memory_service.resume(session.token, name="Alice") == session
    with pytest.raises(NameTaken, match="too similar to 'Alice'"):
        await memory_service.register("ALICE")
    await memory_service.logout(session)
    with pytest.raises(NotLoggedIn):
        await memory_service.resume(session.token)
    again = await memory_service.register("alice")
    assert again.token != session.token


async def test_invalid_name_writes_nothing(memory_service: ChatService) -> None:
    with pytest.raises(InvalidName):
        await memory_service.register("<b>")
    await memory_service.register("b b")  # the store is still usable and empty of the refused name


async def test_a_stale_token_cannot_resume_someone_elses_name(memory_service: ChatService) -> None:
    first = await memory_service.register("Dana")
    await memory_service.logout(first)
    second = await memory_service.register("Dana")
    with pytest.raises(NotLoggedIn):
        await memory_service.resume(first.token, name="Dana")
    assert (await memory_service.resume(second.token, name="Dana")).token == second.token


async def test_post_stores_then_announces_to_the_views_here(memory_service: ChatService) -> None:
    got = RecordingSink()
    memory_service.hub.attach(got)
    await show(memory_service.hub, "lobby")
    session = await memory_service.register("Eve")
    sent = await memory_service.send(session, "  hello <b>world</b>  ")
    assert sent.text == "hello <b>world</b>"
    assert sent.author == "Eve"
    page = await memory_service.history("lobby")
    assert [m.key for m in page.messages] == [sent.key]
    assert got.of("lobby") == [sent]


async def test_posting_the_same_message_twice_stores_it_once(memory_service: ChatService) -> None:
    session = await memory_service.register("Finn")
    message = memory_service.prepare(session, "once")
    await memory_service.post(session, message)
    await memory_service.post(session, message)
    assert [m.text for m in (await memory_service.history("lobby")).messages] == ["once"]


async def test_post_refuses_bad_text_and_logged_out_sessions_without_writing(
    memory_service: ChatService,
) -> None:
    session = await memory_service.register("Gus")
    with pytest.raises(InvalidText):
        await memory_service.send(session, " \n ")
    with pytest.raises(InvalidText, match="limit is 2,000"):
        await memory_service.send(session, "x" * 2001)
    await memory_service.logout(session)
    with pytest.raises(NotLoggedIn):
        await memory_service.send(session, "after logout")
    assert (await memory_service.history("lobby")).messages == []


async def test_someone_cannot_post_a_message_prepared_for_another(memory_service: ChatService) -> None:
    alice = await memory_service.register("Alice")
    mallory = await memory_service.register("Mallory")
    forged = memory_service.prepare(alice, "I owe Mallory")
    with pytest.raises(Exception, match="someone else"):
        await memory_service.post(mallory, forged)


async def test_rate_limit_allows_a_burst_then_refuses(
    memory_db: Dynamo, tables: TableNames, redis_server: FakeServer
) -> None:
    # one message a minute after the burst: however slow this machine sends the burst, no token comes back meanwhile
    service = make_service(
        memory_db, tables, Bus(redis=FakeAsyncRedis(server=redis_server), key=BUS_KEY), rate_per_second=1 / 60
    )
    session = await service.register("Hal")
    for i in range(service.limits.rate_burst):
        await service.send(session, f"m{i}")
    with pytest.raises(RateLimited) as info:
        await service.send(session, "one too many")
    assert 0 < info.value.retry_after <= 60
    assert len((await service.history("lobby", limit=100)).messages) == service.limits.rate_burst


async def test_history_refuses_bad_cursors_and_sizes(memory_service: ChatService) -> None:
    with pytest.raises(InvalidInput, match="cursor is not valid"):
        await memory_service.history("lobby", before="not-a-key")
    for size in (0, memory_service.limits.max_page_size + 1):
        with pytest.raises(InvalidInput, match="A page holds 1 to"):
            await memory_service.history("lobby", limit=size)


async def test_logout_tells_this_process_at_once_and_frees_the_name(memory_service: ChatService) -> None:
    sink = RecordingSink()
    memory_service.hub.attach(sink)
    session = await memory_service.register("Ivy")
    await memory_service.register("Jon")
    await memory_service.logout(session)
    assert sink.ended == [session_digest(session.token)]  # before the bus is heard: the views here close at once
    await memory_service.register("ivy")


async def test_a_busy_sender_reads_its_session_once_per_recheck_window(
    memory_db: Dynamo, tables: TableNames, redis_server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [time.time()]
    bus = Bus(redis=FakeAsyncRedis(server=redis_server), key=BUS_KEY)
    service = make_service(memory_db, tables, bus, clock=lambda: now[0])
    session = await service.register("Kim")
    users = service.users
    reads: list[str] = []
    monkeypatch.setattr(users, "by_name", _counted(reads, "by_name", users.by_name))
    for i in range(5):
        await service.send(session, f"m{i}")
    assert reads == ["by_name"]
    now[0] += service.limits.session_recheck_seconds
    await service.send(session, "two seconds later")
    assert reads == ["by_name", "by_name"]
    assert len((await service.history("lobby")).messages) == 6


async def test_a_logout_in_another_process_stops_the_next_post_there(
    memory_db: Dynamo, tables: TableNames, redis_server: FakeServer
) -> None:
    here, there = (
        make_service(memory_db, tables, Bus(redis=FakeAsyncRedis(server=redis_server), key=BUS_KEY)) for _ in range(2)
    )
    for service in (here, there):
        await service.hub.start(catch_up_interval=3600)
    try:
        session = await here.register("Lee")
        await there.send(session, "hello")  # ``there`` now remembers the session as live
        ended = RecordingSink()
        there.hub.attach(ended)
        await here.logout(session)
        assert await wait_for(lambda: ended.ended == [session_digest(session.token)], timeout=5)
        with pytest.raises(NotLoggedIn):
            await there.send(session, "after logout elsewhere")
        assert [m.text for m in (await there.history("lobby")).messages] == ["hello"]
    finally:
        for service in (here, there):
            await service.hub.stop()


class Gate(FakeAsyncRedis):  # type: ignore[misc]
    """A Redis whose publishes hang while the gate is shut, as a SIGSTOPped server does."""

    def __init__(self, *, server: FakeServer, gate: asyncio.Event) -> None:
        super().__init__(server=server)
        self._gate = gate

    async def publish(self, *args: Any, **kwargs: Any) -> int:
        await self._gate.wait()
        return int(await super().publish(*args, **kwargs))


async def test_a_frozen_redis_never_holds_a_post_and_what_it_missed_is_announced_again(
    memory_db: Dynamo, tables: TableNames, redis_server: FakeServer
) -> None:
    open_ = asyncio.Event()
    frozen = Bus(redis=Gate(server=redis_server, gate=open_), key=BUS_KEY, publish_timeout=0.2)
    here = make_service(memory_db, tables, frozen)
    there = make_service(memory_db, tables, Bus(redis=FakeAsyncRedis(server=redis_server), key=BUS_KEY))
    got_here, got_there = RecordingSink(), RecordingSink()
    here.hub.attach(got_here)
    there.hub.attach(got_there)
    for service in (here, there):
        await service.hub.start(catch_up_interval=3600)  # no periodic catch-up: only the bus can tell ``there``
    try:
        await show(here.hub, "lobby")  # a view of the lobby in each process
        await show(there.hub, "lobby")
        session = await here.register("Mo")
        started = time.monotonic()
        sent = [await here.send(session, f"during the freeze {i}") for i in range(5)]
        assert time.monotonic() - started < 1.0  # acknowledged once stored, not once announced
        assert got_here.of("lobby") == sent  # this process's views at once
        await asyncio.sleep(0.5)
        assert got_there.of("lobby") == []  # the doorbell is frozen
        open_.set()  # Redis answers again
        assert await wait_for(lambda: len(got_there.of("lobby")) == len(sent), timeout=5)
        assert sorted(got_there.of("lobby"), key=lambda m: m.key) == sent
    finally:
        open_.set()
        for service in (here, there):
            await service.hub.stop()


async def test_one_key_from_the_future_does_not_blind_catch_up(
    memory_service: ChatService, memory_db: Dynamo, tables: TableNames
) -> None:
    sink = RecordingSink()
    memory_service.hub.attach(sink)
    await show(memory_service.hub, "lobby")
    plant(memory_db, tables, key="2099-01-01T00:00:00.000Z#0123456789abcdef", text="from the future")
    await memory_service.hub.catch_up("lobby")  # the process sees it (an old version or a bad clock stored it)
    got = sink.of("lobby")
    assert [m.text for m in got] == ["from the future"]
    session = await memory_service.register("Ned")
    # eight messages stored while this process could not hear Redis (stored by another process)
    missed = [await memory_service.messages.put(memory_service.prepare(session, f"missed {i}")) for i in range(8)]
    await memory_service.hub.catch_up("lobby")
    assert sink.of("lobby")[1:] == missed
    assert await memory_service.since("lobby", "2099-01-01T00:00:00.000Z#0123456789abcdef") == [*missed, got[0]]


async def test_older_pages_for_a_tab_are_limited_per_session_as_posts_are(
    memory_db: Dynamo, tables: TableNames, redis_server: FakeServer
) -> None:
    # Load more reads DynamoDB for every click: a client that clicks without end is slowed as a sender is
    service = make_service(
        memory_db,
        tables,
        Bus(redis=FakeAsyncRedis(server=redis_server), key=BUS_KEY),
        rate_per_second=0.01,
        rate_burst=3,
    )
    kim, ann = await service.register("Kim"), await service.register("Ann")
    for _ in range(3):
        assert (await service.older(kim, "lobby", before=None)).messages == []
    with pytest.raises(RateLimited):
        await service.older(kim, "lobby", before=None)
    await service.older(ann, "lobby", before=None)  # another session reads on
    with pytest.raises(InvalidInput):
        await service.older(ann, "lobby", before="not a key")
