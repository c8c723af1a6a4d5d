"""Subscriber connections that count what reaches them: N app processes showing one room, at the protocol level.

Run as its own process (``python -m bench.listeners``) so that reading the fan-out does not take the publisher's
CPU. It subscribes every connection (SUBSCRIBE, or SSUBSCRIBE on a cluster's shard), prints ``ready``, then reads
from every connection until the line it is given on stdin says how many messages to expect in all (or 10 s pass),
and prints how many arrived. Frames are counted, not parsed: cheap enough for 100 connections at full speed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
from typing import TextIO

from tests.helpers import stop_process, wait_for

from .serverproc import REPO

_READY = "ready"
# "message" and "smessage" frames both end their type with this; a sealed body is JSON, which never holds a CRLF
_FRAME = b"message\r\n"
_DRAIN_SECONDS = 10.0


def command(*words: str) -> bytes:
    """One Redis command in the protocol's own framing (RESP)."""
    parts = [b"*%d\r\n" % len(words)]
    for word in words:
        data = word.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class Tally:
    """Counts message frames in a byte stream read in arbitrary pieces."""

    def __init__(self) -> None:
        self.frames = 0
        self._tail = b""

    def feed(self, data: bytes) -> None:
        joined = self._tail + data
        self.frames += joined.count(_FRAME)
        # a frame marker cut in two by the read is found in the next one; a whole one never fits in the tail
        self._tail = joined[-(len(_FRAME) - 1) :]


async def _drain(reader: asyncio.StreamReader, tally: Tally) -> None:
    while data := await reader.read(1 << 16):
        tally.feed(data)


async def _listen(host: str, port: int, channel: str, subscribe: str, connections: int, out: TextIO) -> None:
    streams = [await asyncio.open_connection(host, port) for _ in range(connections)]
    for _, writer in streams:
        writer.write(command(subscribe, channel))
    for reader, _ in streams:
        confirmation = b""
        async with asyncio.timeout(10):
            while not confirmation.endswith(b":1\r\n"):  # the reply ends with the connection's subscription count
                chunk = await reader.read(1024)
                if not chunk:
                    raise ConnectionError(f"{host}:{port} closed the connection before confirming {subscribe}")
                confirmation += chunk
    tallies = [Tally() for _ in streams]
    drains = [asyncio.create_task(_drain(reader, tally)) for (reader, _), tally in zip(streams, tallies, strict=True)]
    print(_READY, file=out, flush=True)
    expected = int(await asyncio.to_thread(sys.stdin.readline))
    await wait_for(lambda: sum(t.frames for t in tallies) >= expected, timeout=_DRAIN_SECONDS, interval=0.01)
    print(json.dumps({"received": sum(t.frames for t in tallies)}), file=out, flush=True)
    for task in drains:
        task.cancel()
    for _, writer in streams:
        writer.close()


class Listeners:
    """The child process holding ``connections`` subscriber connections to ``channel`` at ``host``:``port``."""

    def __init__(self, *, host: str, port: int, channel: str, sharded: bool, connections: int) -> None:
        self.connections = connections
        arguments = ["--host", host, "--port", str(port), "--channel", channel, "--connections", str(connections)]
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.listeners", *arguments, *(["--sharded"] if sharded else [])],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    async def ready(self) -> None:
        """Return once every connection's subscription is confirmed."""
        line = await asyncio.wait_for(asyncio.to_thread(self._readline), timeout=30)
        if line.strip() != _READY:
            raise RuntimeError(f"the subscribers did not start (exit code {self._process.poll()})")

    async def received(self, published: int) -> int:
        """Messages that arrived over all connections, once ``published`` x connections did or 10 s passed."""
        assert self._process.stdin is not None
        self._process.stdin.write(f"{published * self.connections}\n")
        self._process.stdin.flush()
        line = await asyncio.wait_for(asyncio.to_thread(self._readline), timeout=_DRAIN_SECONDS + 20)
        return int(json.loads(line)["received"])

    def _readline(self) -> str:
        assert self._process.stdout is not None
        return self._process.stdout.readline()

    def stop(self) -> None:
        stop_process(self._process, grace=5)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="subscriber connections that count what reaches them")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--channel", required=True)
    parser.add_argument("--connections", type=int, required=True)
    parser.add_argument("--sharded", action="store_true", help="SSUBSCRIBE (a cluster's shard), not SUBSCRIBE")
    arguments = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            _listen(
                arguments.host,
                arguments.port,
                arguments.channel,
                "SSUBSCRIBE" if arguments.sharded else "SUBSCRIBE",
                arguments.connections,
                sys.stdout,
            )
        )
