"""The write path: how many messages one process can store and announce, and where the time goes.

Run as its own process (``python -m bench.writepath``) so the numbers and the profile belong to it alone: one
Runtime wired like the app's (real DynamoDB Local and Redis, the subscriber running), and ``concurrency``
loops, each with a session of its own, calling ``ChatService.send`` for ``seconds``; then again with every post
reading its session from DynamoDB, as when each post comes from someone who has not posted for a while. Each
stage is timed by wrapping the stores' methods on the instances; py-spy (sampling whichever thread holds the
GIL) says where the CPU goes.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from chat.models import Session
from chat.runtime import Runtime
from chat.settings import Settings

from . import procstat
from .pyspy import stacks
from .serverproc import REPO, Backends
from .stats import summary

_MEASURING = "measuring"


def _timed(obj: Any, name: str, stage: str, times: dict[str, list[float]]) -> None:
    original: Callable[..., Awaitable[Any]] = getattr(obj, name)

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await original(*args, **kwargs)
        finally:
            times[stage].append((time.perf_counter() - started) * 1000)

    setattr(obj, name, wrapper)


async def _loop(seconds: float, concurrency: int, *, read_every_post: bool, botocore_http: bool) -> dict[str, Any]:
    runtime = Runtime(Settings.from_env())
    if botocore_http:  # for comparison: the HTTP session botocore ships with (urllib3) instead of LeanSession
        endpoint = runtime.dynamo.client._endpoint  # type: ignore[attr-defined]
        endpoint.http_session = endpoint.http_session.fallback
    runtime.prepare()
    await runtime.start()
    service = runtime.service
    # as when a tab shows the lobby: the hub subscribes to its channel and receives (and drops) its own publishes
    runtime.hub.open_room(service.lobby.id)
    if read_every_post:
        # as when every post comes from someone who has not posted for a while: no session read is reused
        service.limits = dataclasses.replace(service.limits, session_recheck_seconds=0)
    sessions = [await service.register(f"writer{secrets.token_hex(3)}") for _ in range(concurrency)]
    stages: dict[str, list[float]] = collections.defaultdict(list)
    _timed(service.users, "by_name", "check: session (DynamoDB BatchGetItem, shared)", stages)
    _timed(service.messages, "put", "do: store (DynamoDB PutItem x2: nonce record, message)", stages)
    _timed(runtime.bus, "publish", "announce: Redis PUBLISH", stages)
    sends: list[float] = []

    async def sender(session: Session, until: float, record: bool) -> None:
        while time.monotonic() < until:
            started = time.perf_counter()
            await service.send(session, "a message on the write path, about as long as a chat line.")
            if record:
                sends.append((time.perf_counter() - started) * 1000)

    await asyncio.gather(*(sender(s, time.monotonic() + 1.0, False) for s in sessions))  # warm-up
    stages.clear()
    dynamo_pid = procstat.service_pid("DynamoDBLocal")
    redis_url = runtime.settings.redis_url
    redis_pid = procstat.redis_server_pid(redis_url) if redis_url else None
    others0 = {pid: procstat.cpu_seconds(pid) for pid in (dynamo_pid, redis_pid) if pid}
    print(_MEASURING, flush=True)
    cpu0, t0 = time.process_time(), time.monotonic()
    await asyncio.gather(*(sender(s, t0 + seconds, True) for s in sessions))
    cpu1, t1 = time.process_time(), time.monotonic()
    others1 = {pid: procstat.cpu_seconds(pid) for pid in others0}
    await runtime.stop()
    count = len(sends)

    def per_message(pid: int | None) -> float | None:
        return 1000 * (others1[pid] - others0[pid]) / count if pid in others0 and count else None

    return {
        "seconds": t1 - t0,
        "concurrency": concurrency,
        "read_every_post": read_every_post,
        "botocore_http": botocore_http,
        "messages": count,
        "messages_per_second": count / (t1 - t0),
        "send_ms": summary(sends),
        "stages_ms": {stage: summary(values) for stage, values in stages.items()},
        "stage_calls": {stage: len(values) for stage, values in stages.items()},
        "process_cpu_ms_per_msg": 1000 * (cpu1 - cpu0) / count if count else None,
        "process_cpu_cores": (cpu1 - cpu0) / (t1 - t0),
        "dynamodb_local_cpu_ms_per_msg": per_message(dynamo_pid),
        "redis_cpu_ms_per_msg": per_message(redis_pid),
    }


# -- the profile --------------------------------------------------------------------------------------------
_AREAS = [
    ("botocore / boto3 (request building, signing, parsing)", ("botocore/", "boto3/", "jmespath/", "dateutil/")),
    (
        "HTTP (chat/storage/http.py or urllib3 / http.client) and sockets",
        ("chat/storage/http.py", "urllib3/", "http/client", "socket.py", "ssl.py"),
    ),
    ("redis-py", ("redis/",)),
    ("asyncio event loop", ("asyncio/", "uvloop")),
    ("thread pool hand-off", ("concurrent/futures", "threading.py", "queue.py")),
    ("chat (the product)", ("chat/",)),
    ("json", ("json/",)),
    ("logging", ("logging/",)),
]


def _area(frame: str) -> str:
    for area, markers in _AREAS:
        if any(marker in frame for marker in markers):
            return area
    return "other"


def profile_areas(raw: str) -> dict[str, float]:
    """The share of py-spy's samples (collapsed stacks) in each area, by the innermost frame in a known area."""
    areas: collections.Counter[str] = collections.Counter()
    for frames, count in stacks(raw):
        areas[next((a for a in map(_area, reversed(frames)) if a != "other"), "other")] += count
    total = sum(areas.values())
    return {area: n / total for area, n in areas.most_common()} if total else {}


def summarize_profile(raw: str, *, header: str) -> str:
    """Turn py-spy's collapsed stacks into a text summary: by area, by thread, top functions."""
    self_samples: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    areas: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    total = 0
    for frames, count in stacks(raw):
        total += count
        self_samples[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
        # attribute a sample to the innermost frame that belongs to a known area
        areas[next((a for a in map(_area, reversed(frames)) if a != "other"), "other")] += count
        threads["storage threads (boto3 calls)" if "Thread._bootstrap" in frames[0] else "event loop thread"] += count
    if not total:
        return header + "\nno samples\n"

    def table(title: str, counter: collections.Counter[str], limit: int) -> list[str]:
        lines = [f"\n{title}", f"{'share':>7}  {'samples':>7}  what"]
        lines += [f"{100 * n / total:6.1f}%  {n:7d}  {what}" for what, n in counter.most_common(limit)]
        return lines

    lines = [header, f"samples: {total}"]
    lines += table("By thread", threads, 5)
    lines += table("By area (innermost frame in a known library)", areas, 12)
    lines += table("Top functions by own samples", self_samples, 25)
    lines += table("Top functions including callees", inclusive, 30)
    return "\n".join(lines) + "\n"


def _child(command: list[str], env: dict[str, str], seconds: float, spy: list[str] | None) -> None:
    """Run the measuring child; with ``spy``, attach py-spy once the warm-up is over, for the measured seconds."""
    child = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        for line in child.stdout:  # the child prints one line when the measured loop starts
            if line.strip() == _MEASURING:
                break
        if spy is not None:
            duration = str(max(1, int(seconds) - 1))
            subprocess.run([*spy, "--pid", str(child.pid), "--duration", duration], check=True, timeout=seconds + 60)
        if child.wait(timeout=seconds + 120) != 0:
            raise RuntimeError(f"the write-path process exited with {child.returncode}")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


# the profiled runs: the target (every post reads its session), then the same on botocore's own HTTP session
PROFILED = {
    "lean": ("every post reads its session", ["--read-every-post"]),
    "botocore_http": (
        "every post reads its session, botocore's own HTTP session (urllib3)",
        ["--read-every-post", "--botocore-http"],
    ),
}


def run(
    backends: Backends, *, seconds: float, concurrency: int, profile_to: Path | None, work_dir: Path
) -> dict[str, Any]:
    """Measure in child processes; then, when asked, profile two more children with py-spy."""
    env = backends.env()
    env["CHAT_STORAGE_SECRET"] = secrets.token_urlsafe(32)
    out = work_dir / "writepath.json"
    command = [sys.executable, "-m", "bench.writepath", "--seconds", str(seconds), "--concurrency", str(concurrency)]
    _child([*command, "--json-out", str(out)], env, seconds, None)
    result: dict[str, Any] = json.loads(out.read_text())
    for key, flags in (
        ("read_every_post_run", PROFILED["lean"][1]),
        ("botocore_http_run", PROFILED["botocore_http"][1]),
    ):
        _child([*command, *flags, "--json-out", str(out)], env, seconds, None)
        result[key] = json.loads(out.read_text())
    if profile_to is None:
        return result
    uvx = shutil.which("uvx")
    if uvx is None:
        result["profile"] = "not taken: uvx is not available"
        return result
    summaries, result["profile_areas"] = [], {}
    for key, (what, flags) in PROFILED.items():
        raw = work_dir / f"writepath-{key}.pyspy"
        spy = [
            uvx,
            "py-spy",
            "record",
            "--gil",
            "--nonblocking",
            "--rate",
            "100",
            "--format",
            "raw",
            "--output",
            str(raw),
        ]
        profiled = work_dir / "writepath-profiled.json"
        try:
            _child([*command, *flags, "--json-out", str(profiled)], env, seconds, spy)
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            result["profile"] = f"not taken: {exc}"
            return result
        under = json.loads(profiled.read_text())
        header = (
            f"Write path profile, {what}: py-spy record --gil --nonblocking --rate 100, attached for the measured\n"
            "loop only (each sample is the thread holding the GIL, so this is where the process's Python CPU goes)\n"
            f"command: python -m bench.writepath --seconds {seconds} --concurrency {concurrency} {' '.join(flags)}\n"
            f"under the profiler: {under['messages_per_second']:.0f} msg/s\n"
            f"CPU per message: this process {under['process_cpu_ms_per_msg']:.2f} ms "
            f"({under['process_cpu_cores']:.2f} cores busy); "
            f"DynamoDB Local {under['dynamodb_local_cpu_ms_per_msg'] or 0:.2f} ms; "
            f"Redis {under['redis_cpu_ms_per_msg'] or 0:.3f} ms"
        )
        summaries.append(summarize_profile(raw.read_text(), header=header))
        result["profile_areas"][key] = {
            "what": what,
            "messages_per_second": under["messages_per_second"],
            "process_cpu_ms_per_msg": under["process_cpu_ms_per_msg"],
            "shares": profile_areas(raw.read_text()),
        }
    profile_to.parent.mkdir(parents=True, exist_ok=True)
    profile_to.write_text("\n\n".join(summaries))
    result["profile"] = str(profile_to.relative_to(REPO) if profile_to.is_relative_to(REPO) else profile_to)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="the write path, in one process")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--read-every-post", action="store_true", help="never reuse a session read (worst case)")
    parser.add_argument("--botocore-http", action="store_true", help="botocore's own HTTP session, to compare")
    parser.add_argument("--json-out", type=Path, required=True)
    arguments = parser.parse_args()
    os.environ.setdefault("CHAT_STORAGE_SECRET", secrets.token_urlsafe(32))
    measured = asyncio.run(
        _loop(
            arguments.seconds,
            arguments.concurrency,
            read_every_post=arguments.read_every_post,
            botocore_http=arguments.botocore_http,
        )
    )
    arguments.json_out.write_text(json.dumps(measured))
