"""Bench-only pages: other ways of pushing a new message to every open chat view, for comparison.

All of them run in the same server as the product page and are fed the same way a chat view is: by the
process's hub, through a tap on its sink (``bench/tap.py``), except ``redis-per-client``, which is the seed's
design: one Redis subscription per tab. Each page starts with the same history the product's view shows (one
history page of the lobby).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable

from nicegui import app, background_tasks, core, ui
from redis.asyncio import Redis

from chat import events
from chat.bus import channel_name
from chat.models import Message
from chat.runtime import Runtime

from .tap import LobbyTap, tap_lobby

log = logging.getLogger(__name__)

# the order of a run at each size: the ones that may collapse last
WAYS = ("floor", "product", "redis-per-client", "elements", "refreshable")
PATHS = {
    "product": "/",
    "elements": "/bench/elements",
    "refreshable": "/bench/refreshable",
    "redis-per-client": "/bench/redis-per-client",
    "floor": "/bench/floor",
}
FLOOR_EVENT = "bench_floor"
FLOOR_ROOM = "bench:floor"


def _chat_message(message: Message) -> None:
    ui.chat_message(text=message.text, name=message.author, stamp=f"{message.created_at:%H:%M}", sent=False)


def install(runtime: Runtime, way: str) -> None:
    """Register the page of ``way`` (the product's own page is installed by components.pages)."""
    if way == "product":
        return
    if way == "redis-per-client":
        _install_redis_per_client(runtime)
        return
    installers: dict[str, Callable[[Runtime, LobbyTap], None]] = {
        "elements": _install_elements,
        "refreshable": _install_refreshable,
        "floor": _install_floor,
    }
    installers[way](runtime, tap_lobby(runtime))


def _install_elements(runtime: Runtime, tap: LobbyTap) -> None:
    """(a) a NiceGUI chat_message element created for every client on every message."""

    @ui.page(PATHS["elements"])
    async def page() -> None:
        history = await runtime.service.history(runtime.service.lobby.id)
        with ui.column() as column:
            for message in history.messages:
                _chat_message(message)

        def add(messages: list[Message]) -> None:
            with column:
                for message in messages:
                    _chat_message(message)

        ui.context.client.on_delete(tap.subscribe(add))


def _install_refreshable(runtime: Runtime, tap: LobbyTap) -> None:
    """(b) one @ui.refreshable list of the newest messages, re-rendered in every client for every message.

    This is the shape of NiceGUI's chat example: a shared list and ``refresh()`` of every page's instance.
    """
    recent: deque[Message] = deque(maxlen=runtime.settings.page_size)

    @ui.refreshable
    def messages_view() -> None:
        for message in recent:
            _chat_message(message)

    def add(messages: list[Message]) -> None:
        # the hub's first read of the lobby hands over the history this list may already hold
        held = {m.key for m in recent}
        recent.extend(m for m in messages if m.key not in held)
        messages_view.refresh()

    async def prime() -> None:
        recent.extend((await runtime.service.history(runtime.service.lobby.id)).messages)
        tap.subscribe(add)

    app.on_startup(prime)

    @ui.page(PATHS["refreshable"])
    def page() -> None:
        messages_view()


def _install_redis_per_client(runtime: Runtime) -> None:
    """(c) the seed's design: every page opens its own Redis subscription and adds a label per message."""
    assert runtime.settings.redis_url is not None
    # each subscription holds a connection of its own; redis-py 8 caps a pool at 100 connections unless told
    redis = Redis.from_url(runtime.settings.redis_url, max_connections=1_000_000)
    channel = channel_name(runtime.service.lobby.id, runtime.settings.table_prefix)  # as the runtime's bus names it

    async def follow(column: ui.column) -> None:
        pubsub = redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(channel)
            async for raw in pubsub.listen():
                event = runtime.bus.unseal(raw["data"])  # every event on the bus is sealed
                message = None if event is None else events.message_of(event)
                if message is not None:
                    with column:
                        ui.label(f"{message.author}: {message.text}")
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    @ui.page(PATHS["redis-per-client"])
    async def page() -> None:
        history = await runtime.service.history(runtime.service.lobby.id)
        with ui.column() as column:
            for message in history.messages:
                ui.label(f"{message.author}: {message.text}")
        task = background_tasks.create(follow(column), name="per-client subscription")
        ui.context.client.on_delete(lambda: task.cancel())

    app.on_shutdown(redis.aclose)


def _install_floor(runtime: Runtime, tap: LobbyTap) -> None:
    """(d) the floor of this stack: one Socket.IO emit per message to a room holding every page's socket."""
    pending: set[asyncio.Task[None]] = set()

    def add(messages: list[Message]) -> None:
        payload = [m.to_json() for m in messages]
        task = background_tasks.create(core.sio.emit(FLOOR_EVENT, payload, room=FLOOR_ROOM), name="floor emit")
        pending.add(task)
        task.add_done_callback(pending.discard)

    tap.subscribe(add)

    @ui.page(PATHS["floor"])
    def page() -> None:
        ui.label("floor")
        client = ui.context.client

        async def enter_room() -> None:
            # the sockets this client has now; _on_handshake registered them before calling connect handlers
            for sid in list(client._socket_to_document_id):
                await core.sio.enter_room(sid, FLOOR_ROOM)

        client.on_connect(enter_room)
