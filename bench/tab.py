"""One browser tab at the protocol level: the page request, then NiceGUI's Socket.IO connection as nicegui.js opens it.

What the browser does, step by step (NiceGUI 3.18, nicegui/static/nicegui.js and templates/index.html):
1. GET the page with the browser's cookie; the HTML carries ``query: {client_id, next_message_id,
   implicit_handshake}`` for the socket.
2. Open a WebSocket (its own TCP connection) to ``/_nicegui_ws/socket.io/`` with that query plus a fresh
   ``document_id``, the tab's ``tab_id`` and ``old_tab_id`` (null), then ``EIO=4&transport=websocket``, offering
   permessage-deflate like every browser. With ``implicit_handshake`` the server's ``connect`` handler does the
   handshake; the Socket.IO CONNECT packet is all the client sends.
3. Answer Engine.IO pings, and every 3 s acknowledge the outbox messages seen (``ack`` with next_message_id).
4. The product's chat panel (components/chat_panel.js) emits ``sinchchat_join`` with its newest key and
   retries every 100 ms while the answer is null; the answer is what it missed.
A message is recognised in whatever arrives by a token in its text; the first arrival per message counts.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

_QUERY = re.compile(r"query: (\{[^\n]*\}),\n")
_KEY = re.compile(r'"key":\s*"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z#[0-9a-f]{16})"')
_ACK = re.compile(r"^43(\d+)(.*)$", re.DOTALL)
JOIN_EVENT = "sinchchat_join"  # components/broadcast.py
_ACTIVITY_FRAME = '42["sinchchat_activity"'  # components/broadcast.py ACTIVITY_EVENT, as Socket.IO frames it
_PRESENCE_FRAMES = ('42["sinchchat_presence"', '42["sinchchat_typing"')  # components/presence_emit.py
_JOIN_RETRY_SECONDS = 0.1
_JOIN_TRIES = 100


def _js_query_value(value: Any) -> str:
    """How socket.io-client writes a query value: String(value) in JavaScript."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    return str(value)


@dataclass(slots=True)
class TabSpec:
    base_url: str
    path: str
    login: bool
    join: bool
    deflate: bool = True  # every browser offers permessage-deflate; False shows what it costs the server


@dataclass(slots=True)
class Tab:
    """A connected tab; ``seen`` maps a message's number to the monotonic time its token first arrived."""

    name: str
    spec: TabSpec
    client_id: str = ""
    next_message_id: int = 0
    acked_message_id: int = -1
    seen: dict[int, float] = field(default_factory=dict)
    activity: int = 0  # room-list activity frames received (since armed)
    presence: int = 0  # Online list and typing frames received (since armed)
    dropped_at: float | None = None
    closing: bool = False
    pattern: re.Pattern[str] | None = None
    cookie: str | None = None  # the browser's cookie; None: signed in by ``open`` (with spec.login)
    # seconds from the page request: its answer read, the socket connected, the room joined (None: not reached)
    page_seconds: float | None = None
    connected_seconds: float | None = None
    joined_seconds: float | None = None
    history_in_page: bool = False  # the page itself carried messages: shown without another round trip
    _ws: ClientConnection | None = None
    _reader: asyncio.Task[None] | None = None
    _acks: dict[int, asyncio.Future[Any]] = field(default_factory=dict)
    _next_ack: int = 0

    async def open(self, http: httpx.AsyncClient, *, wait: float) -> None:
        """Load the page and connect its socket; raises on any failure."""
        if self.cookie is None and self.spec.login:
            await self.sign_in(http)
        cookie = self.cookie or ""
        started = time.monotonic()
        page = await http.get(self.spec.path, headers={"Cookie": cookie} if cookie else None)
        page.raise_for_status()
        self.page_seconds = time.monotonic() - started
        found = _QUERY.search(page.text)
        if found is None:
            raise RuntimeError(f"no socket query in the page {self.spec.path}")
        # the template writes the dict's Python repr, which the page's JavaScript reads as an object literal
        query: dict[str, Any] = ast.literal_eval(found.group(1))
        self.client_id = str(query["client_id"])
        self.next_message_id = int(query.get("next_message_id", 0))
        keys = _KEY.findall(page.text)
        self.history_in_page = bool(keys)
        newest = max(keys) if keys else None
        query.update(document_id=str(uuid.uuid4()), tab_id=str(uuid.uuid4()), old_tab_id=None)
        query.update(EIO=4, transport="websocket")
        url = self.spec.base_url.replace("http", "ws", 1) + "/_nicegui_ws/socket.io/?"
        url += urlencode({k: _js_query_value(v) for k, v in query.items()})
        headers = {"Cookie": cookie} if cookie else None
        self._ws = await connect(
            url,
            origin=self.spec.base_url,  # type: ignore[arg-type]
            additional_headers=headers,
            proxy=None,
            compression="deflate" if self.spec.deflate else None,
            open_timeout=wait,
            ping_interval=None,  # Engine.IO has its own pings
            max_size=None,
            max_queue=None,
        )
        opened = await asyncio.wait_for(self._ws.recv(), wait)
        if not isinstance(opened, str) or not opened.startswith("0"):
            raise RuntimeError(f"unexpected Engine.IO open packet {opened!r:.80}")
        await self._ws.send("40")
        while True:
            answer = await asyncio.wait_for(self._ws.recv(), wait)
            if answer == "2":
                await self._ws.send("3")
            elif isinstance(answer, str) and answer.startswith("40"):
                break
            elif isinstance(answer, str) and answer.startswith("44"):
                raise RuntimeError(f"the server refused the socket: {answer:.120}")
        self.connected_seconds = time.monotonic() - started
        self._reader = asyncio.create_task(self._read())
        if self.spec.join:
            await self._join(newest, wait=wait)
            self.joined_seconds = time.monotonic() - started

    async def sign_in(self, http: httpx.AsyncClient) -> None:
        """Log in as ``name`` through the bench-only route, as Join does, and keep the cookie it sets."""
        login = await http.get("/bench/login", params={"name": self.name})
        login.raise_for_status()
        self.cookie = "; ".join(c.split(";", 1)[0] for c in login.headers.get_list("set-cookie"))

    async def _join(self, newest: str | None, *, wait: float) -> None:
        for _ in range(_JOIN_TRIES):
            request = {"client_id": self.client_id, "newest": newest}
            answer = await asyncio.wait_for(self._emit(JOIN_EVENT, request), wait)
            if answer and answer[0] is not None:
                return
            await asyncio.sleep(_JOIN_RETRY_SECONDS)
        raise RuntimeError("the server never let the socket join the room")

    def _emit(self, event: str, data: Any) -> asyncio.Future[Any]:
        assert self._ws is not None
        ack_id = self._next_ack
        self._next_ack += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._acks[ack_id] = future
        payload = json.dumps([event, data], separators=(",", ":"))

        async def send() -> None:
            assert self._ws is not None
            await self._ws.send(f"42{ack_id}{payload}")

        asyncio.get_running_loop().create_task(send())
        return future

    async def _read(self) -> None:
        assert self._ws is not None
        ws = self._ws
        try:
            async for frame in ws:
                if frame == "2":
                    await ws.send("3")
                    continue
                if not isinstance(frame, str):
                    continue
                now = time.monotonic()
                if frame.startswith("42"):
                    self._take(frame, now)
                elif frame.startswith("43"):
                    self._answer(frame)
                elif frame.startswith(("41", "1")):
                    break
        except ConnectionClosed:
            pass
        finally:
            if not self.closing and self.dropped_at is None:
                self.dropped_at = time.monotonic()

    def _take(self, frame: str, now: float) -> None:
        if frame.startswith(_ACTIVITY_FRAME):
            self.activity += 1
        elif frame.startswith(_PRESENCE_FRAMES):
            self.presence += 1
        if self.pattern is not None:
            for match in self.pattern.finditer(frame):
                number = int(match.group(1))
                if number not in self.seen:
                    self.seen[number] = now
        # NiceGUI's outbox appends "_id" last to every message it sends; nicegui.js acknowledges it
        if frame.endswith("}]"):
            marker = frame.rfind('"_id":', len(frame) - 40)
            if marker > 0:
                with contextlib.suppress(ValueError):
                    self.next_message_id = max(self.next_message_id, int(frame[marker + 6 : -2]) + 1)

    def _answer(self, frame: str) -> None:
        match = _ACK.match(frame)
        if match is None:
            return
        future = self._acks.pop(int(match.group(1)), None)
        if future is not None and not future.done():
            future.set_result(json.loads(match.group(2)))

    async def ack(self) -> None:
        """What nicegui.js does every 3 s: tell the server which outbox messages arrived."""
        if self._ws is None or self.dropped_at is not None or self.acked_message_id >= self.next_message_id:
            return
        data = json.dumps(["ack", {"client_id": self.client_id, "next_message_id": self.next_message_id}])
        self.acked_message_id = self.next_message_id
        with contextlib.suppress(ConnectionClosed):
            await self._ws.send("42" + data)

    async def close(self) -> None:
        self.closing = True
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(), 5)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader
