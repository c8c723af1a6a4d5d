"""The error tree: drawn in chat/errors.py's docstring, every kind with an HTTP status, foreign errors translated."""

from __future__ import annotations

import re

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from chat import errors
from chat.api import status_of
from chat.bus import Bus
from chat.errors import BusUnavailable, ChatError, RateLimited, StorageUnavailable
from chat.events import session_ended
from chat.storage import Dynamo
from tests.conftest import BUS_KEY
from tests.helpers import free_port


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


async def test_redis_errors_become_bus_unavailable() -> None:
    # a port with nothing behind it
    redis = Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    try:
        with pytest.raises(BusUnavailable, match="Live updates are unavailable"):
            await Bus(redis=redis, room="lobby", key=BUS_KEY).publish(session_ended("x"))
    finally:
        await redis.aclose()
