"""Properties (hypothesis) of paging, text and names, on moto where storage is involved.

Each example works in a room or under names of its own, so examples share the function's moto tables
without seeing each other's data.
"""

from __future__ import annotations

import itertools
import unicodedata
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fakeredis import FakeAsyncRedis, FakeServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat.bus import Bus
from chat.confusables import is_default_ignorable
from chat.errors import InvalidName, InvalidText
from chat.models import Draft, Message, clean_text, new_nonce
from chat.names import NAME_MAX_LENGTH, NAME_MIN_LENGTH, alias_key, check_name, name_key
from chat.service import ChatService
from chat.storage import Dynamo, MessageStore, TableNames
from tests.conftest import BUS_KEY, make_service

STORAGE = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
BASE = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

# -- paging -------------------------------------------------------------------------------------------------

# a write at one of 40 milliseconds: keys collide in time often, so the random part of the key orders them too;
# a write during a walk can land before or after the walk's cursor, as a slow write or clock skew would
writes = st.integers(min_value=0, max_value=39).map(lambda ms: ("write", ms))
reads = st.just(("read", 0))


def looks_empty(text: str) -> bool:
    """Text the rules refuse as empty: only white space and characters drawn as nothing."""
    return all(char.isspace() or is_default_ignorable(char) for char in text)


@STORAGE
@given(
    page_size=st.integers(min_value=1, max_value=10),
    initial=st.lists(st.integers(min_value=0, max_value=39), max_size=14),
    steps=st.lists(st.one_of(writes, reads), max_size=14),
)
async def test_a_walk_sees_each_message_once_and_exactly_those_it_can_reach(
    memory_db: Dynamo, tables: TableNames, page_size: int, initial: list[int], steps: list[tuple[str, int]]
) -> None:
    """Walking from the newest page down with cursors, while others write.

    Expected, exactly: every message present when the walk began, plus every message written during the
    walk with a key older than the walk's cursor at that moment (the walk has yet to reach there). Messages
    written with a newer key than the cursor are behind the walk and not seen. Nothing is seen twice.
    """
    store = MessageStore(db=memory_db, tables=tables)
    room = f"room-{uuid.uuid4().hex}"
    counter = itertools.count()

    async def write(ms: int) -> str:
        moment = (BASE + timedelta(milliseconds=ms)).timestamp()
        at = MessageStore(db=memory_db, tables=tables, clock=lambda: moment)  # the server's clock at that moment
        draft = Draft(room=room, author="a", author_id="a", text=f"m{next(counter)}", nonce=new_nonce())
        return (await at.put(draft)).key

    for ms in initial:
        await write(ms)

    expected: set[str] = set()
    seen: list[str] = []
    started = False
    cursor: str | None = None  # the walk's next `before`; None before the first read or after the last page
    finished = False

    async def read_page() -> None:
        nonlocal started, cursor, finished
        if not started:
            page = await store.page(room, limit=page_size)
            started = True
            expected.update(m.key for m in (await store.page(room, limit=1000)).messages)
        else:
            page = await store.page(room, limit=page_size, before=cursor)
            assert page.messages, "a cursor led to an empty page"  # messages are never deleted
        keys = [m.key for m in page.messages]
        assert keys == sorted(keys)  # oldest first within the page
        assert len(keys) <= page_size
        assert all(m.room == room for m in page.messages)
        if cursor is not None:
            assert all(k < cursor for k in keys)
        seen.extend(reversed(keys))
        cursor = page.cursor
        if cursor is None:
            finished = True
        else:
            assert cursor == keys[0]  # the cursor is the oldest message of a full page

    for op, ms in steps:
        if op == "write":
            key = await write(ms)
            if started and not finished and cursor is not None and key < cursor:
                expected.add(key)
        elif not finished:
            await read_page()
    pages = 0
    while not finished:
        await read_page()
        pages += 1
        assert pages <= 100
    assert len(seen) == len(set(seen)), "a message appeared twice"
    assert seen == sorted(seen, reverse=True)  # newest first across the walk
    assert set(seen) == expected


# -- text ---------------------------------------------------------------------------------------------------

TEXT_LIMIT = 40
tricky = st.sampled_from(
    [
        "\x00", "\x07", "\x1b", "\x7f", "\x85", "\x9b", "\r", "\n", "\t", " ", "\u00a0", "\u2028", "\u3000",
        "\u200b", "\u200d", "\u202e", "\ufeff", "\u0301", "👩\u200d👩\u200d👧", "😀", "𝔘", "<", "&", "\ud800", "\udfff",
    ]
)  # fmt: skip
any_char = st.characters(exclude_categories=())  # every code point, surrogates included
texts = st.lists(st.one_of(any_char, tricky, st.just("a")), max_size=TEXT_LIMIT + 10).map("".join)


def expected_text(raw: str) -> str:
    """The text rule, spelled out: remove control characters (Cc) except newline and tab, and lone
    surrogates (Cs); then trim whitespace at both ends (str.strip). Nothing else may change."""
    kept = "".join(c for c in raw if c in "\n\t" or unicodedata.category(c) not in ("Cc", "Cs"))
    return kept.strip()


@settings(max_examples=500, deadline=None)
@given(raw=texts)
def test_text_is_stored_as_defined_or_refused(raw: str) -> None:
    expected = expected_text(raw)
    if looks_empty(expected) or len(expected) > TEXT_LIMIT:
        with pytest.raises(InvalidText, match="empty" if looks_empty(expected) else f"the limit is {TEXT_LIMIT}"):
            clean_text(raw, max_length=TEXT_LIMIT)
        return
    assert clean_text(raw, max_length=TEXT_LIMIT) == expected


def chat_service(db: Dynamo, tables: TableNames, *, max_message_length: int = 2000) -> ChatService:
    """A service with a rate limit no example reaches."""
    bus = Bus(redis=FakeAsyncRedis(server=FakeServer()), key=BUS_KEY)
    return make_service(db, tables, bus, max_message_length=max_message_length, rate_per_second=1000.0, rate_burst=1000)


@STORAGE
@given(raws=st.lists(texts, min_size=1, max_size=5))
async def test_texts_round_trip_through_the_store_or_are_refused(
    memory_db: Dynamo, tables: TableNames, raws: list[str]
) -> None:
    service = chat_service(memory_db, tables, max_message_length=TEXT_LIMIT)
    session = await service.register(f"u{uuid.uuid4().hex[:12]}")
    room, _ = await service.create_room(session, f"room {uuid.uuid4().hex}")  # a room of its own
    stored: list[Message] = []
    for raw in raws:
        expected = expected_text(raw)
        if looks_empty(expected) or len(expected) > TEXT_LIMIT:
            with pytest.raises(InvalidText):
                await service.send(session, raw, room=room.id)
        else:
            sent = await service.send(session, raw, room=room.id)
            assert sent.text == expected
            stored.append(sent)
    page = await service.history(room.id, limit=10)
    assert sorted(page.messages, key=lambda m: m.key) == sorted(stored, key=lambda m: m.key)
    await service.logout(session)


# -- names --------------------------------------------------------------------------------------------------

name_letters = st.characters(categories=["Lu", "Ll", "Lt", "Lm", "Lo", "Nd"])
# mostly plausible names (letters of every script, marks, the allowed punctuation) and some hostile ones
plausible_names = st.lists(
    st.one_of(name_letters, name_letters, st.sampled_from(" _-."), st.characters(categories=["Mn", "Mc"])),
    max_size=NAME_MAX_LENGTH + 2,
).map("".join)
hostile_chars = st.one_of(
    name_letters,
    st.sampled_from(
        [" ", "'", "<", "\u200b", "\u202e", "\u3164", "\ufe0f", "\x00", "\t", "\ud800", "\u00a0", "\u2028"]
    ),
    st.characters(exclude_categories=()),
)
names = st.one_of(plausible_names, st.lists(hostile_chars, max_size=NAME_MAX_LENGTH + 4).map("".join))


@settings(max_examples=500, deadline=None)
@given(raw=names)
def test_a_name_is_refused_or_kept_as_typed_up_to_trimming_and_nfc(raw: str) -> None:
    try:
        name = check_name(raw)
    except InvalidName as error:
        refusal: str | None = error.message
    else:
        refusal = None
    if refusal is not None:
        assert refusal.startswith("A name ")
        return
    assert name == unicodedata.normalize("NFC", raw.strip())
    assert NAME_MIN_LENGTH <= len(name) <= NAME_MAX_LENGTH
    assert name_key(name) == name_key(raw.strip())
    assert len(name_key(name).encode()) <= 2048  # fits a DynamoDB partition key


@settings(max_examples=300, deadline=None)
@given(raw=st.text(st.characters(categories=["Lu", "Ll", "Lt", "Lm", "Lo", "Nd", "Mn", "Mc"]), max_size=12))
def test_the_alias_key_ignores_case_and_normalization_form(raw: str) -> None:
    key = alias_key(raw)
    assert key == alias_key(raw.casefold())
    assert key == alias_key(unicodedata.normalize("NFD", raw)) == alias_key(unicodedata.normalize("NFKC", raw))
    assert name_key(raw) == name_key(unicodedata.normalize("NFD", raw))


@STORAGE
@given(raw=st.one_of(plausible_names, plausible_names, names))
async def test_a_registered_name_reads_back_exactly(memory_db: Dynamo, tables: TableNames, raw: str) -> None:
    service = chat_service(memory_db, tables)
    try:
        expected = check_name(raw)
    except InvalidName:
        with pytest.raises(InvalidName):
            await service.register(raw)
        return
    # another example may have claimed a look-alike of this name in the shared table: free it first
    for key in (name_key(expected), alias_key(expected)):
        memory_db.client.delete_item(TableName=tables.users, Key={"UserName": {"S": key}})
    session = await service.register(raw)
    assert session.name == expected
    assert (await service.resume(session.token, name=expected)).name == expected
    assert (await service.resume(session.token)).name == expected
    await service.logout(session)
