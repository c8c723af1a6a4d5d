"""The benchmark: idle tabs, fan-out per way and number of clients, 2,000 tabs, memory, one message among many
rooms' tabs, the write path, history pages, one Redis shard, presence, the join storm and the restart storm.

    eval "$(REDIS_CLUSTER=1 scripts/services.sh start)"    # the cluster only for the shard phase's SPUBLISH rows
    uv run python -m bench                # every phase, about 30 minutes
    uv run python -m bench --smoke        # CI: every phase, small; exits non-zero if the harness breaks

Results go to docs/benchmarks.md, docs/benchmarks.json and docs/benchmarks.png (overwritten by every full run; a run
of some phases, e.g. ``--only shard``, writes to bench/results/tmp/<phases>/ instead).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import secrets
import shlex
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chat.settings import Settings

from . import history, idle, join, presence, procstat, report, rooms, shard, storm, writepath
from .alternatives import WAYS
from .fanout import FanoutConfig, log, run_point
from .seed import drop_tables, messages, open_tables, write
from .serverproc import LIBRARY_DEFAULTS, REPO, Backends

# messages a second that 1,000 tabs send in the 1 M-user plan of docs/scaling.md: 8,300 msg/s over 1,000,000 tabs
BUSY_RATE = 8.3
PHASES = ("idle", "fanout", "large", "memory", "rooms", "write", "history", "shard", "presence", "join", "storm")


def _numbers(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="10,100,500,1000", help="numbers of connected tabs (default %(default)s)")
    parser.add_argument(
        "--ways",
        default="floor,product,elements",
        help=f"ways to compare, or all (default %(default)s; all: {','.join(WAYS)}: the Redis subscription per tab "
        "and the re-rendered list were measured against the product on 2026-11-27 and have not changed since)",
    )
    parser.add_argument("--rate", type=float, default=2.0, help="messages per second (default %(default)s)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of sending per point")
    parser.add_argument("--idle-duration", type=float, help="idle seconds per point (duration / 4)")
    parser.add_argument("--grace", type=float, default=10.0, help="seconds to wait for late arrivals")
    parser.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True, help="a 0-client point")
    parser.add_argument("--client-procs", type=int, default=4, help="client processes (default %(default)s)")
    parser.add_argument("--concurrency", type=int, default=8, help="page loads in flight per client process")
    parser.add_argument(
        "--deflate",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="clients offer permessage-deflate, as browsers do (--no-deflate shows what it costs the server)",
    )
    parser.add_argument(
        "--memory-clients", type=int, default=200, help="tabs in the traced run that attributes memory per line"
    )
    parser.add_argument("--rooms", type=int, default=100, help="rooms in the rooms phase (default %(default)s)")
    parser.add_argument("--room-tabs", type=int, default=10, help="tabs per room in the rooms phase (%(default)s)")
    parser.add_argument(
        "--rooms-busy-rate",
        type=float,
        default=BUSY_RATE,
        help="the rooms phase again at this many messages a second, 0 for none (default %(default)s: what 1,000 tabs "
        "of the plan in docs/scaling.md send)",
    )
    parser.add_argument(
        "--rooms-window",
        type=float,
        help="seconds of the idle and of the active window per rooms point (default: whole catch-up rounds that "
        "cover the sending and 5 s more; 0: as the fan-out phase)",
    )
    parser.add_argument(
        "--rooms-cycles", type=int, default=3, help="idle and active window pairs with every room's tabs (%(default)s)"
    )
    parser.add_argument("--history-sizes", default="1000,100000", help="messages in the room (default %(default)s)")
    parser.add_argument("--history-samples", type=int, default=200, help="calls per history measurement")
    parser.add_argument("--write-seconds", type=float, default=10.0, help="seconds of the write-path loop")
    parser.add_argument("--write-concurrency", type=int, default=32, help="concurrent senders in the write path")
    parser.add_argument(
        "--shard-subscribers", default="1,10,100", help="subscriber connections per shard point (default %(default)s)"
    )
    parser.add_argument("--shard-seconds", type=float, default=3.0, help="seconds of publishing per shard point")
    parser.add_argument("--shard-concurrency", type=int, default=16, help="concurrent publishers in the shard phase")
    parser.add_argument("--presence-tabs", type=int, default=1000, help="tabs in the presence phase's room")
    parser.add_argument("--presence-typists", type=int, default=50, help="people typing in the presence phase")
    parser.add_argument("--presence-churn", type=float, default=10.0, help="tabs closed and opened a second")
    parser.add_argument("--presence-window", type=float, default=20.0, help="seconds of each presence window")
    parser.add_argument("--large-clients", type=int, default=2000, help="tabs of the large point (default %(default)s)")
    parser.add_argument("--large-rate", type=float, default=1.0, help="messages a second at the large point")
    parser.add_argument("--idle-tabs", type=int, default=1000, help="tabs in the idle phase (default %(default)s)")
    parser.add_argument("--idle-settle", type=float, default=15.0, help="seconds after connecting, before measuring")
    parser.add_argument("--idle-window", type=float, default=30.0, help="seconds of the idle phase's window")
    parser.add_argument(
        "--idle-ablation",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="idle phase: the product from the libraries' defaults to main.py's settings, one saving at a time",
    )
    parser.add_argument("--storm-tabs", type=int, default=500, help="tabs on each process in the restart storm")
    parser.add_argument("--join-tabs", type=int, default=1000, help="tabs in the join storm (default %(default)s)")
    parser.add_argument("--join-concurrency", type=int, default=32, help="join storm page loads in flight in total")
    parser.add_argument(
        "--profile",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="py-spy the write path; cProfile the server of the largest rooms point",
    )
    parser.add_argument(
        "--library-default",
        action="append",
        choices=LIBRARY_DEFAULTS,
        default=[],
        help="fan-out phases: undo one of main.py's settings in every server (what it saves per message)",
    )
    parser.add_argument("--plot", action=argparse.BooleanOptionalAction, default=True, help="draw benchmarks.png")
    parser.add_argument("--only", default=",".join(PHASES), help="phases to run (default %(default)s)")
    parser.add_argument("--out", type=Path, help="results folder (default docs/, or bench/results/tmp/smoke)")
    parser.add_argument("--smoke", action="store_true", help="CI check: the product at 10 clients, briefly")
    arguments = parser.parse_args(argv)
    if arguments.smoke:
        arguments.clients, arguments.ways, arguments.duration, arguments.grace = "10", "product", 3.0, 5.0
        arguments.idle_duration, arguments.baseline, arguments.client_procs = 2.0, False, 2
        arguments.history_sizes, arguments.history_samples = "1000", 30
        arguments.write_seconds, arguments.profile, arguments.plot = 3.0, False, False
        arguments.memory_clients = 10
        arguments.rooms, arguments.room_tabs, arguments.rooms_window, arguments.rooms_cycles = 5, 2, 0.0, 2
        arguments.rooms_busy_rate = 4.0
        arguments.shard_subscribers, arguments.shard_seconds = "1,10", 0.5
        arguments.presence_tabs, arguments.presence_typists, arguments.presence_churn = 20, 5, 2.0
        arguments.presence_window = 4.0
        arguments.idle_tabs, arguments.idle_settle, arguments.idle_window = 10, 1.0, 3.0
        arguments.idle_ablation = False
        arguments.large_clients = 20
        arguments.storm_tabs = 10
        arguments.join_tabs, arguments.join_concurrency = 20, 4
        arguments.out = arguments.out or REPO / "bench" / "results" / "tmp" / "smoke"
    only = [phase for phase in PHASES if phase in arguments.only.split(",")]
    # a run of some phases only must not overwrite the full results in docs/ with a partial report
    arguments.out = arguments.out or REPO / ("docs" if only == list(PHASES) else f"bench/results/tmp/{'-'.join(only)}")
    if arguments.idle_duration is None:
        arguments.idle_duration = max(3.0, arguments.duration / 4)
    if arguments.rooms_window is None:
        # the rooms' figure is a small difference between two large CPU times (1,000 idle tabs cost more than the
        # message): both windows are long and hold the same number of the server's catch-up rounds
        rounds = Settings().catchup_interval_seconds
        arguments.rooms_window = rounds * math.ceil((arguments.duration + 5) / rounds)
    if arguments.rooms < 1 or arguments.room_tabs < 1:
        parser.error("--rooms and --room-tabs need at least 1")
    if arguments.ways == "all":
        arguments.ways = ",".join(WAYS)
    unknown = set(arguments.ways.split(",")) - set(WAYS)
    if unknown:
        parser.error(f"unknown ways: {', '.join(sorted(unknown))}")
    return arguments


def _config(arguments: argparse.Namespace, backends: Backends, work_dir: Path) -> FanoutConfig:
    return FanoutConfig(
        backends=backends,
        rate=arguments.rate,
        duration=arguments.duration,
        idle_duration=arguments.idle_duration,
        grace=arguments.grace,
        client_procs=arguments.client_procs,
        concurrency=arguments.concurrency,
        work_dir=work_dir,
        deflate=arguments.deflate,
        server_args=tuple(arg for name in arguments.library_default for arg in ("--library-default", name)),
    )


def _rooms_config(arguments: argparse.Namespace, backends: Backends, work_dir: Path) -> FanoutConfig:
    config = dataclasses.replace(_config(arguments, backends, work_dir), cycles=arguments.rooms_cycles)
    if not arguments.rooms_window:
        return config
    # after 1,000 tabs connect the server settles for a while (its first rounds over the new views and rooms)
    window = arguments.rooms_window
    return dataclasses.replace(config, idle_duration=window, window=window, settle=10.0)


async def _fanout(arguments: argparse.Namespace, backends: Backends, work_dir: Path) -> list[dict[str, Any]]:
    config = _config(arguments, backends, work_dir)
    points: list[dict[str, Any]] = []
    if arguments.baseline:
        points.append(await run_point("product", 0, config))
    # all ways at one size before the next size: ways compared with each other ran minutes apart at most
    for clients in _numbers(arguments.clients):
        for way in arguments.ways.split(","):
            points.append(await run_point(way, clients, config))
    order = {way: i for i, way in enumerate(WAYS)}
    return sorted(points, key=lambda p: (p["clients"] > 0, order[p["way"]], p["clients"]))


async def _large(arguments: argparse.Namespace, backends: Backends, work_dir: Path) -> list[dict[str, Any]]:
    """The floor and the product with the most tabs one process is asked to hold, at a lower rate."""
    config = dataclasses.replace(_config(arguments, backends, work_dir), rate=arguments.large_rate)
    return [await run_point(way, arguments.large_clients, config) for way in ("floor", "product")]


async def _memory(arguments: argparse.Namespace, backends: Backends, work_dir: Path) -> list[dict[str, Any]]:
    """The product and the floor again with allocation tracing: where each connected tab's memory goes."""
    config = dataclasses.replace(
        _config(arguments, backends, work_dir), trace_memory=True, duration=2.0, idle_duration=1.0, grace=5.0
    )
    return [await run_point(way, arguments.memory_clients, config) for way in ("floor", "product")]


def main(argv: list[str]) -> int:
    arguments = _arguments(argv)
    phases = set(arguments.only.split(","))
    run_id = datetime.now(UTC).strftime("%m%d%H%M%S") + secrets.token_hex(2)
    backends = Backends.from_env(run_id=run_id, page_size=50)
    work_dir = REPO / "bench" / "results" / "tmp" / run_id
    work_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    results: dict[str, Any] = {
        "command": shlex.join(["uv", "run", "python", "-m", "bench", *argv]),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(arguments).items()},
        "machine": procstat.machine(),
        "page_size": backends.page_size,
    }
    load = results["machine"]["load_average"][0]
    if load > 0.5:
        log(f"the machine is not quiet (load average {load:.2f}): other work will slow every way alike")
    db, tables = open_tables(backends)
    try:
        write(db, tables, messages(backends.room, backends.page_size))  # one full history page for every view
        if "idle" in phases:
            options = idle.IdleOptions(
                tabs=arguments.idle_tabs,
                settle=arguments.idle_settle,
                window=arguments.idle_window,
                profile=arguments.profile,
                client_procs=arguments.client_procs,
                concurrency=arguments.concurrency,
            )
            variants = idle.SERVED[:1] + idle.ABLATION + idle.SERVED[1:] if arguments.idle_ablation else idle.SERVED
            results["idle"] = idle.run(backends, work_dir, options, variants)
        if "fanout" in phases:
            results["fanout"] = asyncio.run(_fanout(arguments, backends, work_dir))
        if "large" in phases and arguments.large_clients:
            results["large"] = asyncio.run(_large(arguments, backends, work_dir))
        if "memory" in phases and arguments.memory_clients:
            results["memory"] = asyncio.run(_memory(arguments, backends, work_dir))
        if "rooms" in phases:
            results["rooms"] = rooms.run(
                db,
                tables,
                _rooms_config(arguments, backends, work_dir),
                rooms=arguments.rooms,
                per_room=arguments.room_tabs,
                page_size=backends.page_size,
                profile_to=arguments.out / "benchmarks-rooms-profile.txt" if arguments.profile else None,
                busy_rate=arguments.rooms_busy_rate,
            )
        if "write" in phases:
            log("write path")
            results["write_path"] = writepath.run(
                backends,
                seconds=arguments.write_seconds,
                concurrency=arguments.write_concurrency,
                profile_to=arguments.out / "benchmarks-profile.txt" if arguments.profile else None,
                work_dir=work_dir,
            )
        if "history" in phases:
            log("history")
            results["history"] = history.run(
                db, tables, sizes=_numbers(arguments.history_sizes), samples=arguments.history_samples
            )
        if "shard" in phases:
            results["shard"] = shard.run(
                redis_url=backends.redis_url,
                cluster_url=backends.redis_cluster_url,
                subscribers=_numbers(arguments.shard_subscribers),
                seconds=arguments.shard_seconds,
                concurrency=arguments.shard_concurrency,
                room=backends.room,
            )
        if "presence" in phases:
            results["presence"] = presence.run(
                backends,
                work_dir,
                tabs=arguments.presence_tabs,
                typists=arguments.presence_typists,
                churn=arguments.presence_churn,
                window=arguments.presence_window,
                rate=arguments.rate,
                client_procs=arguments.client_procs,
                concurrency=arguments.concurrency,
            )
        if "join" in phases:
            results["join"] = join.run(
                backends,
                work_dir,
                tabs=arguments.join_tabs,
                concurrency=arguments.join_concurrency,
                client_procs=arguments.client_procs,
                profile_to=arguments.out / "benchmarks-join-profile.txt" if arguments.profile else None,
            )
        if "storm" in phases:
            results["storm"] = storm.run(
                storm.StormConfig(
                    backends=backends,
                    work_dir=work_dir,
                    tabs=arguments.storm_tabs,
                    rate=arguments.rate,
                    client_procs=arguments.client_procs,
                    concurrency=arguments.concurrency,
                )
            )
    finally:
        drop_tables(db, tables)
        db.close()
    results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["minutes"] = (time.time() - started) / 60
    arguments.out.mkdir(parents=True, exist_ok=True)
    report.write_pages(results, arguments.out)  # with the targets, which the JSON keeps too
    (arguments.out / "benchmarks.json").write_text(json.dumps(results, indent=2) + "\n")
    if arguments.plot and results.get("fanout"):
        report.plot(arguments.out / "benchmarks.json", arguments.out / "benchmarks.png")
    log(f"results in {arguments.out} after {results['minutes']:.1f} min")
    problems = report.harness_problems(results)
    for problem in problems:
        log(f"harness problem: {problem}")
    if not problems:
        shutil.rmtree(work_dir, ignore_errors=True)  # server logs and storage are kept only when something broke
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
