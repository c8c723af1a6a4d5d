"""Hostile input at the service (and the API): each case is refused with a clear message or stored inert.

"Stored" means: the message that post() returns, and the one read back from DynamoDB (moto), both hold
exactly the expected text. Markup is never interpreted here: the browser shows the text as text (Vue text
interpolation), or the server's own rendering of it (chat/markdown.py), which holds only allowed tags and still shows
every character of these texts; ``.sc-text`` has ``unicode-bidi: isolate`` so a bidi override stays inside its message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fakeredis import FakeAsyncRedis, FakeServer

from chat.bus import Bus
from chat.errors import InvalidName, InvalidText, NameTaken
from chat.markdown import render
from chat.models import Message
from chat.service import ChatService
from chat.storage import Dynamo, TableNames
from tests.conftest import BUS_KEY, api_app, make_service
from tests.safe_html import read_safe

MB = 1_000_000

# (id, raw text, the text stored) — stored means verbatim except for trimming and removed Cc/Cs characters
KEPT: list[tuple[str, str, str]] = [
    ("img-onerror", "<img src=x onerror=alert(1)>", "<img src=x onerror=alert(1)>"),
    ("script", "<script>alert('x')</script>", "<script>alert('x')</script>"),
    ("markdown-javascript-link", "[x](javascript:alert(1))", "[x](javascript:alert(1))"),
    ("svg-attribute-break", '"><svg/onload=alert(1)>', '"><svg/onload=alert(1)>'),
    ("vue-template", "{{ constructor.constructor('alert(1)')() }}", "{{ constructor.constructor('alert(1)')() }}"),
    ("sql", "'; DROP TABLE Messages; --", "'; DROP TABLE Messages; --"),
    (
        "dynamodb-expression",
        "#exp <= :now OR attribute_not_exists(UserName)",
        "#exp <= :now OR attribute_not_exists(UserName)",
    ),
    ("nul", "a\x00b", "ab"),
    ("ansi-escape", "a\x1b[31mred\x9b0m\x07b", "a[31mred0mb"),
    ("crlf", "line1\r\nline2", "line1\nline2"),
    ("next-line-c1", "a\x85b", "ab"),
    ("lone-surrogate", "a\ud800b\udfff", "ab"),
    ("rtl-override", "abc\u202edef", "abc\u202edef"),
    ("bidi-isolates-and-marks", "\u2067שלום\u2069 hi\u200f", "\u2067שלום\u2069 hi\u200f"),
    ("bom", "\ufeffhello", "\ufeffhello"),
    ("line-separators", "a\u2028b\u2029c", "a\u2028b\u2029c"),
    ("zwj-family", "👩\u200d👩\u200d👧", "👩\u200d👩\u200d👧"),
    ("rainbow-flag", "🏳\ufe0f\u200d🌈", "🏳\ufe0f\u200d🌈"),
    ("skin-tone", "👋🏽", "👋🏽"),
    ("astral", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𓀀 🀄 \U0001fae0 \U0010fffd", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𓀀 🀄 \U0001fae0 \U0010fffd"),
    ("zalgo", "Z" + "\u0336" * 300, "Z" + "\u0336" * 300),
    ("long-word-1900", "a" * 1900, "a" * 1900),
    ("2000-astral-emoji", "😀" * 2000, "😀" * 2000),  # the limit counts characters, not UTF-16 units or bytes
]

REFUSED_TEXT: list[tuple[str, str, str]] = [
    ("1-mb", "x" * MB, "This message has 1,000,000 characters; the limit is 2,000. Shorten it and send again."),
    ("long-word-10k", "a" * 10_000, "This message has 10,000 characters; the limit is 2,000."),
    ("2001-astral-emoji", "😀" * 2001, "This message has 2,001 characters"),
    ("only-controls-and-space", " \x00\t\n\x7f ", "A message cannot be empty."),
]


@pytest.fixture
def service(memory_db: Dynamo, tables: TableNames) -> ChatService:
    """A service on moto whose rate limit no case here reaches (its hub is not started: no view listens)."""
    return make_service(memory_db, tables, Bus(redis=FakeAsyncRedis(server=FakeServer()), key=BUS_KEY), rate_burst=1000)


async def test_hostile_text_is_stored_exactly_as_defined(service: ChatService, subtests: pytest.Subtests) -> None:
    session = await service.register("Mallory")
    sent: dict[str, Message] = {}
    for case, raw, stored in KEPT:
        with subtests.test(case):
            sent[case] = await service.send(session, raw)
            assert sent[case].text == stored
    read = {m.key: m for m in (await service.history("lobby", limit=100)).messages}
    for case, message in sent.items():
        with subtests.test(f"{case} read back"):
            assert read[message.key] == message  # round trip through DynamoDB, code point for code point


def test_hostile_text_renders_as_its_own_text(subtests: pytest.Subtests) -> None:
    for case, _, stored in KEPT:
        with subtests.test(case):
            # no markup of the text becomes a tag or a link: what is visible is what was stored, character for character
            assert read_safe(render(stored)).text == stored


async def test_hostile_text_is_refused_with_a_clear_message(service: ChatService, subtests: pytest.Subtests) -> None:
    session = await service.register("Mallory")
    for case, raw, message in REFUSED_TEXT:
        with subtests.test(case):
            with pytest.raises(InvalidText) as info:
                await service.send(session, raw)
            assert message in info.value.message
            assert len(info.value.message) < 200  # the refusal never echoes the input
    assert (await service.history("lobby")).messages == []


@pytest.mark.parametrize("raw", ["\u200b", "\u200d\u200d", "\ufeff \u2060", "\u3164", "\u202e"])
async def test_a_message_of_only_invisible_characters_is_refused_as_empty(
    memory_service: ChatService, raw: str
) -> None:
    session = await memory_service.register("Mallory")
    with pytest.raises(InvalidText, match="empty"):
        await memory_service.send(session, raw)


REFUSED_NAMES: list[tuple[str, str, str]] = [
    ("img-onerror", "<img src=x onerror=alert(1)>", "(not '<')"),
    ("script", "<script>", "(not '<')"),
    ("markdown-javascript-link", "[x](javascript:alert(1))", "(not '[')"),
    ("sql", "Robert'); DROP TABLE", '(not "\'")'),
    ("1-mb", "x" * MB, "at most 32 characters"),
    ("long-word-10k", "a" * 10_000, "at most 32 characters"),
    ("nul", "a\x00b", "(not U+0000)"),
    ("rtl-override", "ad\u202emin", "(not U+202E)"),
    ("zwj-family", "👩\u200d👩\u200d👧", "(not '👩')"),
    ("zero-width-joiner", "ab\u200dc", "(not U+200D)"),
    ("hangul-filler", "ab\u3164", "(not U+3164)"),
    ("lone-surrogate", "a\ud800b", "(not U+D800)"),
    ("only-marks", "\u0336\u0336\u0336", "(not U+0336)"),
    ("newline", "ab\ncd", "(not U+000A)"),
]


async def test_hostile_names_are_refused_with_the_rule(service: ChatService, subtests: pytest.Subtests) -> None:
    for case, raw, reason in REFUSED_NAMES:
        with subtests.test(case):
            with pytest.raises(InvalidName) as info:
                await service.register(raw)
            assert reason in info.value.message
            assert len(info.value.message) < 200


VALID_NAMES: list[tuple[str, str, str, str | None]] = [
    ("mathematical", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "Unicode"),  # letters; NFKC makes them one name with "Unicode"
    ("gothic", "𐌰𐌱𐌲", "𐌰𐌱𐌲", None),  # astral letters round trip
    ("padded", "  Zoë  ", "Zoë", None),
    ("decomposed", "Zoe\u0308", "Zoë", "ZOË"),  # stored composed (NFC)
    ("marks", "Z" + "\u0336" * 31, "Z" + "\u0336" * 31, None),  # marks on a letter, within 32 characters
]


async def test_unusual_but_valid_names_round_trip(service: ChatService, subtests: pytest.Subtests) -> None:
    for case, raw, display, same_as in VALID_NAMES:
        with subtests.test(case):
            session = await service.register(raw)
            assert session.name == display
            assert (await service.resume(session.token, name=display)).name == display  # read back by name
            assert (await service.resume(session.token)).name == display  # and by token (the index)
            if same_as is not None:
                with pytest.raises(NameTaken):
                    await service.register(same_as)
            await service.logout(session)


# -- the same through the JSON API ------------------------------------------------------------------------


@pytest.fixture
async def client(memory_service: ChatService) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(api_app(memory_service), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://chat.test") as client:
        yield client


async def test_hostile_names_and_texts_through_the_api(client: httpx.AsyncClient) -> None:
    refused = await client.post("/api/sessions", json={"name": "<img src=x onerror=alert(1)>"})
    assert (refused.status_code, refused.json()) == (
        422,
        {"detail": "A name can only have letters, digits, spaces and _ - . (not '<')."},
    )
    token = (await client.post("/api/sessions", json={"name": "Mallory"})).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    kept = await client.post(
        "/api/messages", json={"text": "<script>alert(1)</script> 👩\u200d👩\u200d👧 a\u0000b"}, headers=auth
    )
    assert kept.status_code == 201
    assert kept.json()["text"] == "<script>alert(1)</script> 👩\u200d👩\u200d👧 ab"
    assert kept.json()["html"] == "<p>&lt;script&gt;alert(1)&lt;/script&gt; 👩\u200d👩\u200d👧 ab</p>"
    link = await client.post("/api/messages", json={"text": "[x](javascript:alert(1))"}, headers=auth)
    assert link.json()["html"] == "<p>[x](javascript:alert(1))</p>"
    page = (await client.get("/api/rooms/lobby/messages", headers=auth)).json()["messages"]
    assert [m["html"] for m in page] == [kept.json()["html"], link.json()["html"]]  # history renders the same
    long = await client.post("/api/messages", json={"text": "x" * 60_000}, headers=auth)
    assert long.status_code == 422
    assert long.json()["detail"].startswith("This message has 60,000 characters; the limit is 2,000.")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/sessions", b'{"name": "\\ud800ab"}'),
        ("/api/sessions", b'{"name": ["\\ud800"]}'),
    ],
)
async def test_a_lone_surrogate_in_json_is_a_422_not_a_500(client: httpx.AsyncClient, path: str, body: bytes) -> None:
    response = await client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422


async def test_a_text_over_the_api_size_limit_is_refused_without_echoing_it(client: httpx.AsyncClient) -> None:
    token = (await client.post("/api/sessions", json={"name": "Mallory"})).json()["token"]
    response = await client.post(
        "/api/messages", json={"text": "x" * (MB + 1)}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 413
    assert isinstance(response.json()["detail"], str)
    assert len(response.content) < 1000
