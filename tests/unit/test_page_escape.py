"""The faster escape of a page's element data gives NiceGUI's own result, in the place NiceGUI escapes it."""

from __future__ import annotations

import inspect

import nicegui.client
from nicegui import json as nicegui_json
from nicegui.client import HTML_ESCAPE_TABLE, Client

from components import page_escape

# every character NiceGUI escapes, beside what a chat message holds: Markdown, emoji, quotes, entities already there
TEXT = '{"text":"a <b>&amp; `c` $d > e\' 👍 \\u2028 &lt;","html":"<p>x &amp; y</p>","n":[1,2]}'


def test_nicegui_still_escapes_the_element_json_it_dumps_with_that_table() -> None:
    source = inspect.getsource(Client.build_response)
    assert "elements = json.dumps(" in source
    assert "elements.translate(HTML_ESCAPE_TABLE)" in source


def test_the_escape_is_nicegui_s_own() -> None:
    fast = page_escape.EscapableJson(TEXT)
    assert fast.translate(HTML_ESCAPE_TABLE) == TEXT.translate(HTML_ESCAPE_TABLE)
    other = str.maketrans({"a": "b"})
    assert fast.translate(other) == TEXT.translate(other)


def test_installed_every_dump_of_the_client_module_can_escape_fast(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(nicegui.client, "json", nicegui_json)
    page_escape.install()
    dumped = nicegui.client.json.dumps({"text": "<b>&</b>"})
    assert isinstance(dumped, page_escape.EscapableJson)
    assert dumped == nicegui_json.dumps({"text": "<b>&</b>"})
    assert nicegui.client.json.loads('{"a": 1}') == {"a": 1}
