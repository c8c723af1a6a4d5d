"""uvicorn's WebSocket protocol override (components/websocket_protocol.py) against the NiceGUI it was written for.

The first test fails when ui.run stops building its config the way the override relies on: then read the new
ui.run and decide whether the override is still needed (NiceGUI may let one choose) or must follow.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
import websockets
from nicegui import server, ui_run
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.protocols.websockets.wsproto_impl import WSProtocol

from components import websocket_protocol


@pytest.fixture(autouse=True)
def nicegui_s_own_config() -> Iterator[None]:
    yield
    ui_run.CustomServerConfig = server.CustomServerConfig  # type: ignore[misc]


def test_ui_run_hard_codes_wsproto_in_the_config_it_looks_up_by_name() -> None:
    source = inspect.getsource(ui_run.run)
    assert source.count("CustomServerConfig(") == 1
    assert "ws='wsproto'," in source
    assert "ws" not in inspect.signature(ui_run.run).parameters  # no way to choose it


async def _echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "websocket"
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    message = await receive()
    await send({"type": "websocket.send", "text": "echo " + message["text"]})
    await send({"type": "websocket.close", "code": 1000})


@pytest.mark.parametrize(
    ("protocol", "implementation"),
    [("websockets-sansio", WebSocketsSansIOProtocol), ("wsproto", WSProtocol)],
)
async def test_the_next_ui_run_serves_websockets_with_the_installed_protocol(
    protocol: str, implementation: type
) -> None:
    websocket_protocol.install(protocol)
    # what ui.run does: its config class, with NiceGUI's own choice written in
    config = ui_run.CustomServerConfig(_echo, host="127.0.0.1", port=0, ws="wsproto", lifespan="off", log_level="error")
    config.load()
    assert config.ws_protocol_class is implementation
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        instance = uvicorn.Server(config)
        serving = asyncio.create_task(instance.serve(sockets=[sock]))
        try:
            while not instance.started:
                await asyncio.sleep(0.01)
            async with websockets.connect(f"ws://127.0.0.1:{port}/") as client:
                await client.send("hello")
                assert await client.recv() == "echo hello"
        finally:
            instance.should_exit = True
            await serving


def test_the_app_serves_websockets_sansio_by_default_and_install_does_not_stack() -> None:
    assert websocket_protocol.DEFAULT == "websockets-sansio"
    websocket_protocol.install()
    websocket_protocol.install()
    config_class = ui_run.CustomServerConfig
    assert config_class.__mro__[1] is server.CustomServerConfig  # one subclass of NiceGUI's, not one per install
