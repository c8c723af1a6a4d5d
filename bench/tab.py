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

A tab that follows (``TabSpec.follow``) also does what nicegui.js does when its socket drops: socket.io-client
reconnects with its back-off (1 s, 2 s, 4 s, 5 s at most, each +-50 %) and the same query; a server that does not
know the client refuses it with "Implicit handshake failed" (a 44 packet), and nicegui.js then reloads the page, which
the load balancer sends to a process that answers. What the reloaded page and its join bring counts as seen.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import json
import math
import random
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

_QUERY = re.compile(r"query: (\{[^\n]*\}),\n")
KEY_PATTERN = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z#[0-9a-f]{16}"  # a message key (chat/models.py)
_KEY = re.compile(rf'"key":\s*"({KEY_PATTERN})"')
_ACK = re.compile(r"^43(\d+)(.*)$", re.DOTALL)
JOIN_EVENT = "sinchchat_join"  # components/broadcast.py
_ACTIVITY_FRAME = '42["sinchchat_activity"'  # components/broadcast.py ACTIVITY_EVENT, as Socket.IO frames it
_PRESENCE_FRAMES = ('42["sinchchat_presence"', '42["sinchchat_typing"')  # components/presence_emit.py
_JOIN_RETRY_SECONDS = 0.1
_JOIN_TRIES = 100
# socket.io-client's Manager defaults: reconnectionDelay, reconnectionDelayMax, randomizationFactor; factor 2
_RECONNECT_DELAY = 1.0
_RECONNECT_DELAY_MAX = 5.0
_RECONNECT_JITTER = 0.5
_ROUTE_COOKIE = "sc_route"  # scripts/nginx/sinchchat.conf.template: the load balancer's sticky key


class HandshakeRefused(Exception):
    """The server answered the socket's CONNECT with an error (44): it does not know the page's client."""


class SocketDropped(Exception):
    """The socket went while an event waited for its answer."""


def reconnect_delay(attempt: int, rand: float) -> float:
    """socket.io-client's Backoff.duration() for the ``attempt``-th try (0 first), ``rand`` in [0, 1)."""
    ms = _RECONNECT_DELAY * 1000 * 2**attempt
    deviation = math.floor(rand * _RECONNECT_JITTER * ms)
    ms = ms - deviation if (math.floor(rand * 10) & 1) == 0 else ms + deviation
    return float(min(ms, _RECONNECT_DELAY_MAX * 1000)) / 1000


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
    follow: bool = False  # when the socket drops: reconnect, and reload the page when the server does not know it


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
    cookie: str = ""  # the browser's cookies (the sign-in cookie once signed in)
    route: str = ""  # the load balancer's sticky cookie, as nginx set it in this browser
    keys: dict[int, set[str]] = field(default_factory=dict)  # a following tab: the keys each message came with
    reloads: list[tuple[float, float]] = field(default_factory=list)  # a following tab: (page loaded, joined)
    drops: list[float] = field(default_factory=list)  # a following tab: when its socket dropped
    drop_reasons: list[str] = field(default_factory=list)
    newest: str | None = None  # a following tab: the newest message key it holds, for the join after a reconnect
    failure: str = ""  # a following tab that could not come back: why (a browser would show an error page)
    pattern: re.Pattern[str] | None = None
    # seconds from the page request: its answer read, the socket connected, the room joined (None: not reached)
    page_seconds: float | None = None
    connected_seconds: float | None = None
    joined_seconds: float | None = None
    history_in_page: bool = False  # the page itself carried messages: shown without another round trip
    _ws: ClientConnection | None = None
    _reader: asyncio.Task[None] | None = None
    _acks: dict[int, asyncio.Future[Any]] = field(default_factory=dict)
    _next_ack: int = 0
    _query: dict[str, Any] = field(default_factory=dict)
    _recovery: asyncio.Task[None] | None = None

    def _cookies(self) -> dict[str, str] | None:
        cookies = "; ".join(c for c in (self.cookie, f"{_ROUTE_COOKIE}={self.route}" if self.route else "") if c)
        return {"Cookie": cookies} if cookies else None

    async def open(self, http: httpx.AsyncClient, *, wait: float) -> None:
        """Load the page and connect its socket; raises on any failure."""
        if not self.cookie and self.spec.login:
            await self.sign_in(http)
        await self._load(http, wait=wait)

    async def sign_in(self, http: httpx.AsyncClient) -> None:
        """Log in as ``name`` through the bench-only route, as Join does, and keep the cookie it sets."""
        login = await http.get("/bench/login", params={"name": self.name}, headers=self._cookies())
        login.raise_for_status()
        self.cookie = "; ".join(c.split(";", 1)[0] for c in login.headers.get_list("set-cookie"))

    async def _load(self, http: httpx.AsyncClient, *, wait: float) -> None:
        """GET the page, connect its socket, join its room."""
        started = time.monotonic()
        page = await http.get(self.spec.path, headers=self._cookies())
        page.raise_for_status()
        loaded = time.monotonic()
        self.page_seconds = loaded - started
        found = _QUERY.search(page.text)
        if found is None:
            raise RuntimeError(f"no socket query in the page {self.spec.path}")
        # the template writes the dict's Python repr, which the page's JavaScript reads as an object literal
        query: dict[str, Any] = ast.literal_eval(found.group(1))
        self.client_id = str(query["client_id"])
        self.next_message_id = int(query.get("next_message_id", 0))
        self.acked_message_id = -1
        keys = _KEY.findall(page.text)
        self.history_in_page = bool(keys)
        newest = self.newest = max(keys) if keys else None
        query.update(document_id=str(uuid.uuid4()), tab_id=str(uuid.uuid4()), old_tab_id=None)
        self._query = query
        await self._connect(wait=wait)
        self.connected_seconds = time.monotonic() - started
        if self.spec.join:
            await self._join(newest, wait=wait)
            self.joined_seconds = time.monotonic() - started
        if self.spec.follow:
            now = time.monotonic()
            self._scan(page.text, now)  # the page's history is shown once the app runs: by the join, at the latest
            self.reloads.append((loaded, now))

    async def _connect(self, *, wait: float) -> None:
        """Open the page's socket with its query (socket.io-client keeps it for every reconnection attempt)."""
        query = {**self._query, "next_message_id": self.next_message_id, "EIO": 4, "transport": "websocket"}
        url = self.spec.base_url.replace("http", "ws", 1) + "/_nicegui_ws/socket.io/?"
        url += urlencode({k: _js_query_value(v) for k, v in query.items()})
        headers = self._cookies()
        self.dropped_at = None
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
                await self._ws.close()
                raise HandshakeRefused(f"the server refused the socket: {answer:.120}")
        self._reader = asyncio.create_task(self._read())

    async def _join(self, newest: str | None, *, wait: float) -> None:
        for _ in range(_JOIN_TRIES):
            request = {"client_id": self.client_id, "newest": newest}
            try:
                answer = await asyncio.wait_for(self._emit(JOIN_EVENT, request), wait)
            except SocketDropped:
                if self.spec.follow:
                    return  # the chat panel joins again on the socket that comes back (see _recover)
                raise
            if answer and answer[0] is not None:
                if self.spec.follow:
                    missed = json.dumps(answer)
                    self._scan(missed, time.monotonic())  # what it missed, shown at once
                    self._note_newest(missed)
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
            with contextlib.suppress(ConnectionClosed):  # the reader sees the drop; the answer never comes
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
                    self.drop_reasons.append(f"the server closed it ({frame[:40]})")
                    break
        except ConnectionClosed as exc:
            self.drop_reasons.append(str(exc))
        finally:
            for waiting in self._acks.values():  # answers that will never come on this socket
                if not waiting.done():
                    waiting.set_exception(SocketDropped("the socket dropped before the server answered"))
            self._acks.clear()
            if not self.closing and self.dropped_at is None:
                self.dropped_at = time.monotonic()
                if self.spec.follow:
                    self.drops.append(self.dropped_at)
                    self._recovery = asyncio.create_task(self._recover())

    async def _recover(self) -> None:
        """nicegui.js after a drop: reconnect with back-off; when the server refuses the page's client, reload it.

        A reload that fails leaves the tab on the error page for good, as in a browser: ``failure`` says why.
        """
        attempt = 0
        while not self.closing:
            await asyncio.sleep(reconnect_delay(attempt, random.random()))
            attempt += 1
            try:
                await self._connect(wait=20)
            except HandshakeRefused:
                break
            except (OSError, TimeoutError, WebSocketException):
                continue  # nothing answered: socket.io-client tries again
            # the process that rendered the page answers again: the page stays, and the chat panel joins again
            with contextlib.suppress(Exception):
                await self._join(self.newest, wait=20)
            return
        async with httpx.AsyncClient(base_url=self.spec.base_url, timeout=60, trust_env=False) as http:
            try:
                await self._load(http, wait=60)
            except Exception as exc:
                self.failure = f"{type(exc).__name__}: {exc}"[:200]

    def _take(self, frame: str, now: float) -> None:
        if frame.startswith(_ACTIVITY_FRAME):
            self.activity += 1
        elif frame.startswith(_PRESENCE_FRAMES):
            self.presence += 1
        self._scan(frame, now)
        if self.spec.follow:
            self._note_newest(frame)
        # NiceGUI's outbox appends "_id" last to every message it sends; nicegui.js acknowledges it
        if frame.endswith("}]"):
            marker = frame.rfind('"_id":', len(frame) - 40)
            if marker > 0:
                with contextlib.suppress(ValueError):
                    self.next_message_id = max(self.next_message_id, int(frame[marker + 6 : -2]) + 1)

    def _note_newest(self, text: str) -> None:
        keys = _KEY.findall(text)
        if keys and (self.newest is None or max(keys) > self.newest):
            self.newest = max(keys)

    def _scan(self, text: str, now: float) -> None:
        """Note the armed pattern's messages in ``text``; with a group named key, the key each one came with too."""
        if self.pattern is None:
            return
        keyed = "key" in self.pattern.groupindex
        for match in self.pattern.finditer(text):
            number = int(match.group(1) if not keyed else match.group("number"))
            if number not in self.seen:
                self.seen[number] = now
            if keyed:
                self.keys.setdefault(number, set()).add(match.group("key"))

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
        if self._recovery is not None:
            self._recovery.cancel()
            with contextlib.suppress(BaseException):
                await self._recovery
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(), 5)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader
