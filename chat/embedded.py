"""Zero-configuration backends started inside the process: a moto DynamoDB endpoint and a fakeredis server.

Everything lives in memory and is gone when the process exits. moto and fakeredis come with the ``embedded``
dependency group, which a fresh clone installs and the production image leaves out: they are imported here only
when embedded mode starts, so that a process configured for real services never needs them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from redis.asyncio import Redis

from .settings import SettingsError

if TYPE_CHECKING:
    from fakeredis import FakeServer
    from moto.server import ThreadedMotoServer

log = logging.getLogger(__name__)

CREDENTIALS = ("embedded", "embedded")

MISSING = (
    "Embedded mode (no CHAT_REDIS_URL) runs DynamoDB and Redis inside the process with moto and fakeredis, "
    "which are not installed ({missing}). Set CHAT_REDIS_URL and CHAT_DYNAMODB_ENDPOINT to use real services, "
    "or install the embedded group: uv sync --group embedded"
)


class EmbeddedServers:
    """A moto server on a free loopback port and an in-process fakeredis server.

    Raises SettingsError, naming both ways out, when moto or fakeredis is not installed.
    """

    def __init__(self) -> None:
        try:
            from fakeredis import FakeServer
            from moto.server import ThreadedMotoServer
        except ImportError as exc:
            raise SettingsError(MISSING.format(missing=exc.name or exc)) from exc
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request otherwise
        self._moto: ThreadedMotoServer = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        self.dynamodb_endpoint = f"http://{host}:{port}"
        self._redis_server: FakeServer = FakeServer()
        log.warning(
            "Embedded mode: DynamoDB (moto at %s) and Redis (fakeredis) run inside this process; "
            "all data lives in memory and is lost on exit. Set CHAT_REDIS_URL and CHAT_DYNAMODB_ENDPOINT "
            "to use real services.",
            self.dynamodb_endpoint,
        )

    def redis(self) -> Redis:
        from fakeredis import FakeAsyncRedis  # installed: __init__ checked

        return FakeAsyncRedis(server=self._redis_server)

    def stop(self) -> None:
        self._moto.stop()
