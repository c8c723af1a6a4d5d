"""Zero-configuration backends started inside the process: a moto DynamoDB endpoint and a fakeredis server.

Everything lives in memory and is gone when the process exits.
"""

from __future__ import annotations

import logging

from fakeredis import FakeAsyncRedis, FakeServer
from moto.server import ThreadedMotoServer
from redis.asyncio import Redis

log = logging.getLogger(__name__)

CREDENTIALS = ("embedded", "embedded")


class EmbeddedServers:
    """A moto server on a free loopback port and an in-process fakeredis server."""

    def __init__(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request otherwise
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        self.dynamodb_endpoint = f"http://{host}:{port}"
        self._redis_server = FakeServer()
        log.warning(
            "Embedded mode: DynamoDB (moto at %s) and Redis (fakeredis) run inside this process; "
            "all data lives in memory and is lost on exit. Set CHAT_REDIS_URL and CHAT_DYNAMODB_ENDPOINT "
            "to use real services.",
            self.dynamodb_endpoint,
        )

    def redis(self) -> Redis:
        return FakeAsyncRedis(server=self._redis_server)

    def stop(self) -> None:
        self._moto.stop()
