"""The app under test as a child process: started like a user starts it, watched through /proc, stopped."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.helpers import free_port, stop_process

from . import procstat

# what bench.server's --library-default can undo of main.py's settings (the libraries' own behaviour back)
LIBRARY_DEFAULTS = ("outbox-wake", "uvicorn-ping", "wsproto")

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class Backends:
    """Where the real services are and how this run's data is kept apart from everyone else's."""

    dynamodb_endpoint: str
    redis_url: str
    table_prefix: str
    room: str
    page_size: int
    redis_cluster_url: str | None = None  # a node of a Redis Cluster, for the shard phase's SPUBLISH rows

    @classmethod
    def from_env(cls, *, run_id: str, page_size: int) -> Backends:
        endpoint = os.environ.get("CHAT_TEST_DYNAMODB_ENDPOINT") or os.environ.get("CHAT_DYNAMODB_ENDPOINT")
        redis_url = os.environ.get("CHAT_TEST_REDIS_URL") or os.environ.get("CHAT_REDIS_URL")
        if not endpoint or not redis_url:
            raise SystemExit(
                'bench: needs DynamoDB Local and Redis; run  eval "$(scripts/services.sh start)"  first '
                "(it sets CHAT_TEST_DYNAMODB_ENDPOINT and CHAT_TEST_REDIS_URL)"
            )
        # a room of its own: the Redis channel is shared with whatever else uses this Redis
        cluster_url = os.environ.get("CHAT_TEST_REDIS_CLUSTER_URL")
        return cls(endpoint, redis_url, f"bench{run_id}_", f"bench{run_id}", page_size, cluster_url)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("AWS_ACCESS_KEY_ID", "local")
        env.setdefault("AWS_SECRET_ACCESS_KEY", "local")
        env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        env.update(
            CHAT_DYNAMODB_ENDPOINT=self.dynamodb_endpoint,
            CHAT_REDIS_URL=self.redis_url,
            CHAT_TABLE_PREFIX=self.table_prefix,
            CHAT_ROOM=self.room,
            CHAT_PAGE_SIZE=str(self.page_size),
            # the sender posts far faster than a person may
            CHAT_RATE_PER_SECOND="100000",
            CHAT_RATE_BURST="100000",
            # every simulated browser comes from this machine's address
            CHAT_ADDRESS_RATE_PER_SECOND="100000",
            CHAT_ADDRESS_RATE_BURST="100000",
            CHAT_JOINS_PER_MINUTE="100000",
            CHAT_JOIN_BURST="100000",
        )
        return env


class ServerProcess:
    """``python -m bench.server --way <way>``; the pid is the Python process itself, so /proc shows its CPU."""

    def __init__(
        self,
        *,
        way: str,
        backends: Backends,
        log_path: Path,
        storage_path: Path,
        trace_memory: bool = False,
        settings: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
    ) -> None:
        """``settings``: environment values over the run's, e.g. one CHAT_STORAGE_SECRET for processes that share
        their browsers; ``args``: more arguments of bench.server."""
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        environment = backends.env()
        environment.update(
            CHAT_HOST="127.0.0.1",
            CHAT_PORT=str(self.port),
            CHAT_STORAGE_SECRET=secrets.token_urlsafe(32),
            NICEGUI_STORAGE_PATH=str(storage_path),
            PYTHONUNBUFFERED="1",
        )
        environment.update(settings or {})
        if trace_memory:
            environment["PYTHONTRACEMALLOC"] = "1"  # from start-up; bench/server.py reports what grew since a mark
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.server", "--way", way, *args],
            cwd=REPO,
            env=environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.pid = self.process.pid

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}; see {self._log.name}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.base_url + "/api/health", timeout=2, trust_env=False).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"the server did not answer within {timeout:.0f} s; see {self._log.name}")

    def cpu(self) -> float:
        return procstat.cpu_seconds(self.pid)

    def rss(self) -> int:
        return procstat.rss_bytes(self.pid)

    def stop(self) -> None:
        """SIGTERM (NiceGUI shuts down the runtime), SIGKILL if it is stuck, e.g. after its event loop collapsed."""
        stop_process(self.process, grace=8)
        self._log.close()
