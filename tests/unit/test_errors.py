"""The error tree: drawn in chat/errors.py's docstring, every kind with an HTTP status, foreign errors translated."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import redis.exceptions
from botocore.exceptions import ClientError, EndpointConnectionError
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from chat import errors
from chat.api import status_of
from chat.bus import Bus
from chat.errors import BusUnavailable, ChatError, RateLimited, StorageUnavailable
from chat.events import presence, session_ended
from chat.models import Draft, Session, new_message_key
from chat.storage import Dynamo, MarkerStore, MessageStore, RoomStore, TableNames, UserStore, connect
from chat.storage.changes import MessageChanges
from tests.conftest import BUS_KEY
from tests.helpers import free_port

SESSION = Session(token="t" * 43, name="Alice", name_key="alice", author_id="id-alice", expires_at=2_000_000_000)
# every public storage call, each as a request would make it; a new store method belongs here
CALL_PATHS: dict[str, Callable[[Dynamo, TableNames], Awaitable[object]]] = {
    "UserStore.claim": lambda db, t: UserStore(db=db, tables=t).claim(SESSION),
    "UserStore.by_name": lambda db, t: UserStore(db=db, tables=t).by_name("alice", token=SESSION.token),
    "UserStore.by_token": lambda db, t: UserStore(db=db, tables=t).by_token(SESSION.token),
    "UserStore.touch": lambda db, t: UserStore(db=db, tables=t).touch(SESSION, 2_000_000_100),
    "UserStore.release": lambda db, t: UserStore(db=db, tables=t).release(SESSION),
    "MessageStore.put": lambda db, t: MessageStore(db=db, tables=t).put(
        Draft(room="lobby", author="Alice", author_id="id-alice", text="hi", nonce="nonce-0001")
    ),
    "MessageStore.page": lambda db, t: MessageStore(db=db, tables=t).page("lobby", limit=10),
    "MessageStore.after": lambda db, t: MessageStore(db=db, tables=t).after("lobby", new_message_key()),
    "MessageStore.count_after": lambda db, t: MessageStore(db=db, tables=t).count_after("lobby", "", limit=100),
    "MessageStore.newest_key": lambda db, t: MessageStore(db=db, tables=t).newest_key("lobby"),
    "MessageChanges.edit": lambda db, t: MessageStore(db=db, tables=t).changes.edit(
        "lobby", new_message_key(), author_id="id-alice", text="hi"
    ),
    "MessageChanges.delete": lambda db, t: MessageStore(db=db, tables=t).changes.delete(
        "lobby", new_message_key(), author_id="id-alice"
    ),
    "MessageChanges.react": lambda db, t: MessageStore(db=db, tables=t).changes.react(
        "lobby", new_message_key(), author_id="id-alice", emoji="👍", on=True
    ),
    "MessageChanges.after": lambda db, t: MessageStore(db=db, tables=t).changes.after("lobby", new_message_key()),
    "RoomStore.create": lambda db, t: RoomStore(db=db, tables=t).create(
        room_id="general", name="General", lookalike="genera1", created_by="Alice"
    ),
    "RoomStore.get": lambda db, t: RoomStore(db=db, tables=t).get("general"),
    "RoomStore.list": lambda db, t: RoomStore(db=db, tables=t).list(limit=100),
    "MarkerStore.advance": lambda db, t: MarkerStore(db=db, tables=t).advance(
        "reader", "lobby", new_message_key(), expires_at=2_000_000_000
    ),
    "MarkerStore.of_reader": lambda db, t: MarkerStore(db=db, tables=t).of_reader("reader"),
}


def every_kind() -> set[type[ChatError]]:
    found: set[type[ChatError]] = set()
    todo: list[type[ChatError]] = [ChatError]
    while todo:
        kind = todo.pop()
        found.add(kind)
        todo.extend(kind.__subclasses__())
    return {kind for kind in found if kind.__module__ == errors.__name__}


def test_the_docstring_draws_every_error_kind() -> None:
    drawn = set(re.findall(r"[├└]── (\w+)", errors.__doc__ or ""))
    assert drawn == {kind.__name__ for kind in every_kind()} - {"ChatError"}


def test_every_error_kind_has_an_http_status() -> None:
    statuses = {kind.__name__: status_of(kind) for kind in every_kind() - {ChatError}}
    assert None not in statuses.values(), statuses
    assert statuses["Conflict"] == statuses["NameTaken"] == 409
    assert statuses["StorageUnavailable"] == 503


@pytest.mark.parametrize(("seconds", "said"), [(0.0, 1), (0.04, 1), (1.0, 1), (1.01, 2), (7.5, 8)])
def test_the_rate_limit_text_and_retry_after_say_the_same_whole_seconds(seconds: float, said: int) -> None:
    error = RateLimited.for_wait(seconds)
    assert error.retry_after_seconds == said
    assert error.message == f"You are sending too fast. Wait {said} s and send again."


async def test_botocore_errors_become_storage_unavailable(moto_dynamo: Dynamo) -> None:
    def unreachable() -> None:
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:9")

    def throttled() -> None:
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "PutItem")

    for call in (unreachable, throttled):
        with pytest.raises(StorageUnavailable) as raised:
            await moto_dynamo.run(call)
        assert "cannot be reached" in raised.value.message
        assert "Exception" not in raised.value.message  # a sentence for people, not the botocore text


@pytest.fixture
def unreachable_dynamo() -> Iterator[Dynamo]:
    """A client of a port nothing listens on, trying once: every call fails to connect (a BotoCoreError)."""
    db = connect(
        endpoint=f"http://127.0.0.1:{free_port()}",
        region="us-east-1",
        credentials=("test", "test"),
        timeout=0.5,
        attempts=1,
    )
    yield db
    db.close()


def test_every_store_method_is_on_the_list_of_call_paths() -> None:
    public = {
        f"{store.__name__}.{name}"
        for store in (UserStore, MessageStore, MessageChanges, RoomStore, MarkerStore)
        for name, value in vars(store).items()
        if callable(value) and not name.startswith("_")
    }
    assert public == set(CALL_PATHS)


@pytest.mark.parametrize("path", sorted(CALL_PATHS))
async def test_every_storage_call_path_maps_an_unreachable_dynamodb_to_storage_unavailable(
    path: str, unreachable_dynamo: Dynamo, tables: TableNames
) -> None:
    with pytest.raises(StorageUnavailable, match="cannot be reached"):
        await CALL_PATHS[path](unreachable_dynamo, tables)


@pytest.mark.parametrize("path", sorted(CALL_PATHS))
async def test_every_storage_call_path_maps_a_dynamodb_refusal_to_storage_unavailable(
    path: str, moto_dynamo: Dynamo, tables: TableNames
) -> None:
    # the tables were never created: DynamoDB answers every call with ResourceNotFoundException (a ClientError)
    with pytest.raises(StorageUnavailable, match="cannot be reached"):
        await CALL_PATHS[path](moto_dynamo, tables)


async def test_redis_errors_become_bus_unavailable() -> None:
    # a port with nothing behind it
    redis = Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    try:
        with pytest.raises(BusUnavailable, match="Live updates are unavailable"):
            await Bus(redis=redis, key=BUS_KEY).publish(None, session_ended("x"))
    finally:
        await redis.aclose()


_REDIS_BASES = (redis.exceptions.RedisError, redis.exceptions.RedisClusterException)
# every error redis-py defines (the cluster client's RedisClusterException is no RedisError), and the socket's own
REDIS_ERRORS: list[type[Exception]] = [
    *sorted(
        (kind for kind in vars(redis.exceptions).values() if isinstance(kind, type) and issubclass(kind, _REDIS_BASES)),
        key=lambda kind: kind.__name__,
    ),
    ConnectionResetError,
    OSError,
]
# every public Bus call that talks to Redis on a request's behalf (ping is readiness's, and answers with what it got)
BUS_CALLS: dict[str, Callable[[Bus], Awaitable[object]]] = {
    "publish": lambda bus: bus.publish("lobby", session_ended("x")),
    "publish activity": lambda bus: bus.publish(None, session_ended("x")),
    "put_presence": lambda bus: bus.put_presence(
        "lobby", "p1", presence([("id-alice", "Alice")], origin="p1"), until=2e9, ttl=30
    ),
    "put_presence nobody": lambda bus: bus.put_presence("lobby", "p1", presence([], origin="p1"), until=2e9, ttl=30),
    "presence": lambda bus: bus.presence("lobby", now=0),
}


class AnsweringWith(Redis):
    """A Redis client every command of which ends in ``error`` (None: never answers), without a connection."""

    def __init__(self, error: BaseException | None) -> None:
        super().__init__(host="127.0.0.1", port=1)
        self.error = error

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        if self.error is None:
            await asyncio.Event().wait()
        raise self.error  # type: ignore[misc]


@pytest.mark.parametrize("call", sorted(BUS_CALLS))
@pytest.mark.parametrize("kind", REDIS_ERRORS, ids=lambda kind: kind.__name__)
async def test_every_redis_error_on_every_bus_call_is_bus_unavailable(call: str, kind: type[Exception]) -> None:
    redis = AnsweringWith(kind("3999 127.0.0.1:7002"))  # MovedError and AskError parse "slot host:port"
    with pytest.raises(BusUnavailable, match="Live updates are unavailable right now"):
        await BUS_CALLS[call](Bus(redis=redis, key=BUS_KEY))


@pytest.mark.parametrize("call", sorted(BUS_CALLS))
async def test_a_redis_that_never_answers_is_bus_unavailable_within_the_publish_timeout(call: str) -> None:
    with pytest.raises(BusUnavailable, match="slow to answer"):
        await BUS_CALLS[call](Bus(redis=AnsweringWith(None), key=BUS_KEY, publish_timeout=0.05))
