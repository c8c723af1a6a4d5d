"""A faster escape of the element data in every page NiceGUI builds (a library override).

NiceGUI's ``Client.build_response`` (3.18, nicegui/client.py) serializes every element with ``json.dumps`` and
escapes the result for the HTML page with ``elements.translate(HTML_ESCAPE_TABLE)``. That table maps characters to
strings of several characters, which CPython's ``str.translate`` runs one character at a time through a dict lookup:
about 2 ms for a chat page of 50 messages, the largest single cost of a page build in a join storm
(docs/benchmarks.md, join storm). The same escape as one ``str.replace`` per character is over ten times faster.

The override: ``install`` puts a stand-in for the ``json`` module that nicegui/client.py imported; its ``dumps``
returns a ``str`` whose ``translate`` does those replaces for that one table (and is ``str.translate`` for any other).
Nothing else changes: the other functions are NiceGUI's own (client.py's ``loads`` reads only what browsers send;
orjson reads no ``str`` subclass). tests/unit/test_page_escape.py fails if NiceGUI stops
escaping the elements this way, or if the result would differ from NiceGUI's own.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import nicegui.client
from nicegui import json as nicegui_json

_TABLE = nicegui.client.HTML_ESCAPE_TABLE
# "&" first: the other characters' replacements hold "&", which must not be escaped again
_REPLACES = sorted(((chr(code), str(replacement)) for code, replacement in _TABLE.items()), key=lambda r: r[0] != "&")


class EscapableJson(str):
    """A JSON text whose escape with NiceGUI's page table runs as a few replaces."""

    def translate(self, table: Any) -> str:
        if table is not _TABLE:
            return super().translate(table)
        text = str(self)
        for character, replacement in _REPLACES:
            text = text.replace(character, replacement)
        return text


def _dumps(*args: Any, **kwargs: Any) -> str:
    return EscapableJson(nicegui_json.dumps(*args, **kwargs))


def install() -> None:
    """Use the faster escape in every page from now on (once per process)."""
    stand_in = SimpleNamespace(
        dumps=_dumps, loads=nicegui_json.loads, NiceGUIJSONResponse=nicegui_json.NiceGUIJSONResponse
    )
    setattr(nicegui.client, "json", stand_in)  # noqa: B010 (the module does not export the name it imported)
