"""uvicorn's WebSocket protocol for the tabs' sockets: ``websockets-sansio`` instead of the ``wsproto`` NiceGUI picks.

``ui.run`` builds uvicorn's config with ``ws='wsproto'`` written into the call, so neither ui.run's arguments nor
uvicorn's settings can choose another. NiceGUI picked it only to leave the deprecated legacy implementation of the
``websockets`` library (uvicorn's ``auto``); uvicorn's ``websockets-sansio`` is that library's current protocol,
which frames and unmasks in C where wsproto does it in Python. Every open tab's pings and pongs, and every message
to it, go through this code: see docs/scaling.md (idle tabs) for what it saves.

The override: ``nicegui.ui_run`` looks its config class up by name when ui.run is called; ``install`` replaces
that name with a subclass that sets ``ws``. tests/unit/test_websocket_protocol.py fails when NiceGUI builds its
config another way, or lets one choose.
"""

from __future__ import annotations

from typing import Any

from nicegui import server, ui_run

# uvicorn's name for the protocol; "wsproto" is NiceGUI's own choice (the benchmark measures both)
DEFAULT = "websockets-sansio"


def install(protocol: str = DEFAULT) -> None:
    """Serve WebSockets with uvicorn's ``protocol`` from the next ui.run on."""

    class Config(server.CustomServerConfig):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["ws"] = protocol
            super().__init__(*args, **kwargs)

    vars(ui_run)["CustomServerConfig"] = Config
