"""Names as the service sees them: the two relations, reserved names, and what is kept of a session at rest."""

from __future__ import annotations

import logging
import re

import pytest
from homoglyph.data import load_prototypes

from chat.errors import InvalidName, NameTaken
from chat.names import ALIAS_PREFIX, alias_key, check_name, name_key
from chat.service import ChatService
from chat.storage import Dynamo, TableNames


async def test_all_and_ali_may_both_be_online(memory_service: ChatService) -> None:
    ali = await memory_service.register("Ali")
    all_ = await memory_service.register("All")
    assert {ali.name, all_.name} == {"Ali", "All"}


@pytest.mark.parametrize(
    ("live", "newcomer"),
    [("Amie", "Arnie"), ("Alice", "ALICE"), ("Alice", "\u0410lice"), ("Ian", "lan"), ("Straße", "STRASSE")],
)
async def test_a_look_alike_is_refused_naming_the_live_name(
    memory_service: ChatService, live: str, newcomer: str
) -> None:
    await memory_service.register(live)
    with pytest.raises(NameTaken) as info:
        await memory_service.register(newcomer)
    assert info.value.message == f"The name {newcomer!r} is too similar to {live!r}, who is online. Pick another one."


async def test_the_same_name_is_in_use(memory_service: ChatService) -> None:
    await memory_service.register("Amie")
    with pytest.raises(NameTaken, match=r"^The name 'Amie' is in use\. Pick another one\.$"):
        await memory_service.register(" Amie ")


async def test_logout_frees_both_keys(memory_service: ChatService) -> None:
    alice = await memory_service.register("Alice")
    await memory_service.logout(alice)
    shouting = await memory_service.register("ALICE")  # the case fold was Alice's
    await memory_service.logout(shouting)
    await memory_service.register("\u0410LICE")  # the skeleton was ALICE's


@pytest.mark.parametrize(
    "raw", ["admin", "Administrator", "SYSTEM", "moderator", "Mod", "root", "SinchChat", "support", "staff"]
)
def test_reserved_names_are_refused(raw: str) -> None:
    with pytest.raises(InvalidName, match="reserved"):
        check_name(raw)


@pytest.mark.parametrize(
    "raw",
    ["\u0430dmin", "ADMlN", "r00t", "Sinch Chat", "s-y-s-t-e-m", "every one", "HERE", "\u13bbere"],
    ids=["cyrillic-a", "l-for-I", "zeros", "spaced", "dashed", "split", "capitals", "cherokee-h"],
)
def test_look_alikes_of_reserved_names_are_refused(raw: str) -> None:
    with pytest.raises(InvalidName, match="reserved"):
        check_name(raw)


@pytest.mark.parametrize("raw", ["Modesto", "Admiral", "rooted", "Sherlock", "Ali"])
def test_names_that_only_contain_a_reserved_one_are_kept(raw: str) -> None:
    assert check_name(raw) == raw


@pytest.mark.parametrize("raw", ["...", "-_-", ". .", "__"])
def test_a_name_needs_a_letter_or_digit(raw: str) -> None:
    with pytest.raises(InvalidName, match="at least one letter or digit"):
        check_name(raw)


def test_no_skeleton_holds_the_alias_prefix() -> None:
    # a skeleton is made of prototypes and of name characters without one; neither can be the prefix
    assert all(ALIAS_PREFIX not in shown for shown in load_prototypes().values())
    with pytest.raises(InvalidName):
        check_name(f"{ALIAS_PREFIX}alice")
    assert name_key("alice") != alias_key("alice")


def _users_items(db: Dynamo, tables: TableNames) -> list[dict[str, dict[str, str]]]:
    return db.client.scan(TableName=tables.users)["Items"]  # type: ignore[return-value]


async def test_no_users_item_holds_the_token(
    memory_service: ChatService, memory_db: Dynamo, tables: TableNames
) -> None:
    session = await memory_service.register("Keeper")
    items = _users_items(memory_db, tables)
    assert len(items) == 2  # the name's skeleton and its case fold
    values = [value for item in items for attribute in item.values() for value in attribute.values()]
    assert session.token not in values
    assert not any(session.token in str(value) for value in values)
    # and the session is still found by its token (through the digest), and by name
    assert await memory_service.resume(session.token) == session
    assert await memory_service.resume(session.token, name="Keeper") == session


async def test_a_session_has_a_public_author_id_kept_with_it(
    memory_service: ChatService, memory_db: Dynamo, tables: TableNames
) -> None:
    first, second = await memory_service.register("First"), await memory_service.register("Second")
    assert re.fullmatch("[0-9a-f]{16}", first.author_id)
    assert first.author_id != second.author_id
    assert (await memory_service.resume(first.token)).author_id == first.author_id
    stored = {
        item["DisplayName"]["S"]: item["AuthorId"]["S"]
        for item in _users_items(memory_db, tables)
        if "AuthorId" in item
    }
    assert stored == {"First": first.author_id, "Second": second.author_id}


async def test_the_name_key_never_reaches_the_logs(
    memory_service: ChatService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="chat")
    session = await memory_service.register("Amie")
    await memory_service.logout(session)
    assert session.name_key == "Arnie"  # differs from the name, so a leak would show
    logged = "\n".join(record.getMessage() for record in caplog.records if record.name.startswith("chat"))
    assert session.author_id in logged
    assert "Arnie" not in logged
    assert session.token not in logged
