"""One subscriber connection's reading of what the server sends, on a scripted connection.

Every confirmed (re)subscribe is news, after a reconnect too; a subscription the server ended or refused is handed
back to the owner (and told apart from our own unsubscribes by the order of the replies); a connection that stays
silent past a PING is dropped. fakeredis has no cluster, so SSUBSCRIBE's replies are scripted here.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MovedError

from chat.bus.subscription import Link, open_client
from chat.settings import Settings, SettingsError
from tests.helpers import wait_for

SECRET = "a-generated-secret-of-enough-length-0123456789"


class Scripted:
    """A connection to a scripted server: it answers (S)SUBSCRIBE and (S)UNSUBSCRIBE as a server would, one reply
    per channel, refuses the channels in ``refuse`` with MOVED, and hands out whatever the test ``push``-es."""

    def __init__(self, *, refuse: frozenset[str] = frozenset(), answer_pings: bool = True) -> None:
        self.sent: list[tuple[str, ...]] = []
        self.inbox: asyncio.Queue[Any] = asyncio.Queue()
        self.refuse = refuse
        self.answer_pings = answer_pings
        self.closed = False

    def push(self, *reply: Any) -> None:
        self.inbox.put_nowait(list(reply))

    def pack_commands(self, commands: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
        return list(commands)

    async def send_packed_command(self, commands: list[tuple[str, ...]], check_health: bool = True) -> None:
        for command in commands:
            await self.send_command(*command, check_health=check_health)

    async def send_command(self, *command: str, check_health: bool = True) -> None:
        assert not check_health, "a subscribed connection must not be health-checked with a plain PING"
        self.sent.append(command)
        verb = command[0]
        if verb == "PING":
            if self.answer_pings:
                self.inbox.put_nowait(b"PONG")
        elif verb.endswith("UNSUBSCRIBE"):
            self.push(verb.lower().encode(), command[1].encode(), 0)
        elif command[1] in self.refuse:
            self.inbox.put_nowait(MovedError("1234 127.0.0.1:7002"))
        else:
            self.push(verb.lower().encode(), command[1].encode(), 1)

    async def read_response(self, **_: Any) -> Any:
        reply = await self.inbox.get()
        if isinstance(reply, BaseException):
            raise reply
        return reply

    async def disconnect(self, nowait: bool = False) -> None:
        self.closed = True


class Owner:
    """Records what the link reports."""

    def __init__(self) -> None:
        self.delivered: list[tuple[str, bytes | str]] = []
        self.confirmations: list[str] = []
        self.handed_back: list[str] = []
        self.losses: list[tuple[str, bool]] = []

    def message(self, link: Link, channel: str, data: bytes | str) -> None:
        self.delivered.append((channel, data))

    def subscribed(self, link: Link, channel: str) -> None:
        self.confirmations.append(channel)

    def ended(self, link: Link, channel: str, reason: str) -> None:
        self.handed_back.append(channel)

    def lost(self, link: Link, error: BaseException, *, was_up: bool) -> None:
        self.losses.append((str(error), was_up))


class Rig:
    """A link on scripted connections: ``connections`` are the ones it opened, the newest last."""

    def __init__(self, *, sharded: bool = True, **connection: Any) -> None:
        self.owner = Owner()
        self.connections: list[Scripted] = []
        self._connection = connection

        async def connect() -> Scripted:
            self.connections.append(Scripted(**self._connection))
            return self.connections[-1]

        self.connect = connect
        self.sharded = sharded

    def link(self, *channels: str, **timing: float) -> Link:
        link = Link(server="shard-a", connect=self.connect, sharded=self.sharded, owner=self.owner, **timing)  # type: ignore[arg-type]
        for channel in channels:
            link.add(channel)
        link.start()
        return link


async def stopped(link: Link) -> None:
    link.close()
    await link.wait_closed()


async def test_every_confirmation_is_reported_again_after_a_reconnect() -> None:
    rig = Rig()
    link = rig.link("room-a", "room-b")
    try:
        assert await wait_for(lambda: sorted(rig.owner.confirmations) == ["room-a", "room-b"], timeout=2)
        first = rig.connections[0]
        assert sorted(first.sent) == [("SSUBSCRIBE", "room-a"), ("SSUBSCRIBE", "room-b")]
        first.push(b"smessage", b"room-a", b"one")
        first.inbox.put_nowait(RedisConnectionError("Connection closed by server."))
        # the link opens a new connection by itself, and every channel's confirmation is news again
        assert await wait_for(lambda: len(rig.owner.confirmations) == 4, timeout=2)
        assert first.closed
        assert rig.owner.losses == [("Connection closed by server.", True)]
        rig.connections[1].push(b"smessage", b"room-b", b"two")
        assert await wait_for(lambda: len(rig.owner.delivered) == 2, timeout=2)
        assert rig.owner.delivered == [("room-a", b"one"), ("room-b", b"two")]
        assert sorted(rig.owner.confirmations) == ["room-a", "room-a", "room-b", "room-b"]
    finally:
        await stopped(link)
    assert rig.connections[1].closed


async def test_a_subscription_the_server_ended_is_handed_back_not_resubscribed_here() -> None:
    rig = Rig()
    link = rig.link("moved", "stays")
    try:
        assert await wait_for(lambda: len(rig.owner.confirmations) == 2, timeout=2)
        connection = rig.connections[0]
        connection.push(b"sunsubscribe", b"moved", 1)  # the server dropped the slot: no one asked for this
        assert await wait_for(lambda: rig.owner.handed_back == ["moved"], timeout=2)
        assert link.wanted == {"stays"}
        connection.push(b"smessage", b"stays", b"still here")
        assert await wait_for(lambda: rig.owner.delivered == [("stays", b"still here")], timeout=2)
        assert connection.sent.count(("SSUBSCRIBE", "moved")) == 1  # where it lives now is the owner's question
        assert rig.owner.losses == []
    finally:
        await stopped(link)


async def test_a_refused_subscribe_is_told_apart_by_its_place_among_the_replies() -> None:
    rig = Rig(refuse=frozenset({"room-b"}))  # MOVED: an error reply, which names no channel
    link = rig.link("room-a", "room-b", "room-c")
    try:
        assert await wait_for(lambda: len(rig.owner.confirmations) == 2 and rig.owner.handed_back, timeout=2)
        assert sorted(rig.owner.confirmations) == ["room-a", "room-c"]
        assert rig.owner.handed_back == ["room-b"]
        assert link.confirmed == {"room-a", "room-c"}
        assert rig.owner.losses == [], "a refused channel must not cost the others their connection"
    finally:
        await stopped(link)


async def test_our_own_unsubscribe_is_not_taken_for_one_the_server_ended() -> None:
    rig = Rig(sharded=False)
    link = rig.link("room-a", "room-b")
    try:
        assert await wait_for(lambda: len(rig.owner.confirmations) == 2, timeout=2)
        connection = rig.connections[0]
        link.discard("room-a")  # returns at once; the task cuts its read short to send UNSUBSCRIBE
        assert await wait_for(lambda: ("UNSUBSCRIBE", "room-a") in connection.sent, timeout=0.2, interval=0.005)
        connection.push(b"message", b"room-a", b"published before the unsubscribe arrived")
        connection.push(b"message", b"room-b", b"kept")
        assert await wait_for(lambda: rig.owner.delivered, timeout=2)
        assert rig.owner.delivered == [("room-b", b"kept")]
        assert rig.owner.handed_back == []
        link.add("room-a")
        assert await wait_for(lambda: len(rig.owner.confirmations) == 3, timeout=0.2, interval=0.005)
    finally:
        await stopped(link)


async def test_a_connection_that_answers_no_ping_is_dropped_and_opened_again() -> None:
    rig = Rig(answer_pings=False)  # a frozen server, or a half-open TCP connection: nothing ever arrives
    link = rig.link("room-a", ping_interval=0.1, ping_timeout=0.1)
    try:
        assert await wait_for(lambda: rig.owner.losses, timeout=2)
        assert ("PING",) in rig.connections[0].sent
        assert rig.connections[0].closed
        assert rig.owner.losses[0] == ("shard-a did not answer a PING within 0.1 s", True)
        assert await wait_for(lambda: len(rig.owner.confirmations) == 2, timeout=2)  # subscribed again elsewhere
    finally:
        await stopped(link)


async def test_a_quiet_connection_that_answers_its_pings_is_kept() -> None:
    rig = Rig()
    link = rig.link("room-a", ping_interval=0.05, ping_timeout=0.05)
    try:
        await asyncio.sleep(0.5)
        assert rig.connections[0].sent.count(("PING",)) >= 3
        assert rig.owner.losses == []
        assert len(rig.connections) == 1
    finally:
        await stopped(link)


async def test_a_cluster_url_builds_a_cluster_client_that_connects_to_nothing_yet() -> None:
    client = open_client("redis://127.0.0.1:1", cluster=True)
    try:
        assert isinstance(client, RedisCluster)
    finally:
        await client.aclose()


def test_redis_cluster_is_read_from_the_environment_and_needs_a_tcp_url() -> None:
    base = {"CHAT_STORAGE_SECRET": SECRET, "CHAT_DYNAMODB_ENDPOINT": "http://d"}
    assert not Settings.from_env({**base, "CHAT_REDIS_URL": "redis://r:7000"}).redis_cluster
    assert Settings.from_env({**base, "CHAT_REDIS_URL": "redis://r:7000", "CHAT_REDIS_CLUSTER": "1"}).redis_cluster
    with pytest.raises(SettingsError, match="CHAT_REDIS_CLUSTER is set but CHAT_REDIS_URL is not"):
        Settings.from_env({"CHAT_REDIS_CLUSTER": "true"})
    with pytest.raises(SettingsError, match="redis:// or rediss://"):
        Settings.from_env({**base, "CHAT_REDIS_URL": "unix:///tmp/r.sock", "CHAT_REDIS_CLUSTER": "yes"})
    with pytest.raises(SettingsError, match="CHAT_REDIS_CLUSTER must be true or false"):
        Settings.from_env({**base, "CHAT_REDIS_URL": "redis://r:7000", "CHAT_REDIS_CLUSTER": "sharded"})
