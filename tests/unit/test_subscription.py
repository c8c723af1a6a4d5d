"""The subscription's reading of what the server sends: every confirmed (re)subscribe is news, an ended one fails."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError

from chat.settings import Settings, SettingsError
from chat.subscription import Subscription, open_client

SECRET = "a-generated-secret-of-enough-length-0123456789"


class Scripted:
    """A pubsub that hands out the given server messages in order, then nothing."""

    def __init__(self, *messages: dict[str, Any]) -> None:
        self._messages = list(messages)

    async def get_message(self, *, timeout: float) -> dict[str, Any] | None:
        return self._messages.pop(0) if self._messages else None


def server(kind: str, data: Any = b"x") -> dict[str, Any]:
    return {"type": kind, "pattern": None, "channel": b"sinchchat:room:lobby", "data": data}


async def test_a_resubscribe_the_client_made_by_itself_is_reported_like_the_first() -> None:
    # redis-py resubscribes on its own after a reconnect: the bus must hear of it to catch up
    pubsub = Scripted(server("subscribe", 1), server("message", b"one"), server("subscribe", 1), server("message"))
    subscription = Subscription(pubsub, "sinchchat:room:lobby")  # type: ignore[arg-type]
    kinds = [(await subscription.next(wait=0)) for _ in range(5)]
    assert [k[0] if k else None for k in kinds] == ["subscribed", "message", "subscribed", "message", None]
    assert kinds[1] == ("message", b"one")


@pytest.mark.parametrize("kind", ["unsubscribe", "sunsubscribe"])
async def test_a_subscription_the_server_ended_raises_so_the_bus_subscribes_again(kind: str) -> None:
    subscription = Subscription(Scripted(server(kind, 0)), "sinchchat:room:lobby")  # type: ignore[arg-type]
    with pytest.raises(RedisConnectionError, match="ended the subscription"):
        await subscription.next(wait=0)


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
