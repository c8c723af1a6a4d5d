"""The results as docs/benchmarks.md (tables, targets, machine, command) and the plot, from benchmarks.json.

``uv run python -m bench.report docs/benchmarks.json`` writes the pages again from a stored run (the targets as they
are defined now), without running anything.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from . import idle, join, presence, storm, writepath_report
from . import rooms as rooms_phase
from .fanout import log
from .serverproc import REPO

WRITE_TARGET = 600  # messages a second, one process

LABELS = {
    "product": "product `/` (room emit)",
    "floor": "(d) floor: raw room emit",
    "elements": "(a) chat_message per client",
    "refreshable": "(b) refreshable list",
    "redis-per-client": "(c) Redis subscription per client",
}


def _points(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in results.get("fanout", []) if p.get("clients")]


def _point(results: dict[str, Any], way: str, clients: int) -> dict[str, Any] | None:
    return next((p for p in _points(results) if p["way"] == way and p["clients"] == clients), None)


def _baseline_cpu(results: dict[str, Any]) -> float | None:
    base = next((p for p in results.get("fanout", []) if p.get("clients") == 0), None)
    value = base.get("cpu_ms_per_msg") if base else None
    return float(value) if value is not None else None


def _baseline_idle(results: dict[str, Any]) -> float:
    base = next((p for p in results.get("fanout", []) if p.get("clients") == 0), None)
    return float(base.get("idle_cpu_cores") or 0.0) if base else 0.0


def idle_pct_per_1000(point: dict[str, Any], results: dict[str, Any]) -> float | None:
    """Idle server CPU the connected clients add (over the 0-client server's idle), % of a core per 1,000."""
    if not point.get("connected") or point.get("idle_cpu_cores") is None:
        return None
    return 100 * (float(point["idle_cpu_cores"]) - _baseline_idle(results)) / int(point["connected"]) * 1000


def _per_client_us(point: dict[str, Any], baseline: float | None) -> float | None:
    cpu = point.get("cpu_ms_per_msg")
    if cpu is None or baseline is None or not point.get("connected"):
        return None
    return 1000 * (float(cpu) - baseline) / int(point["connected"])


def _f(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _gc(pauses: dict[str, Any] | None) -> str:
    return "-" if not pauses else f"{pauses['pauses']} / {pauses['max_ms']:.0f}"


def _x(ratio: float | None, digits: int) -> str:
    return "not measured" if ratio is None else f"{ratio:.{digits}f}x"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with the measured value and whether it was met (None: not measured in this run)."""
    rows: list[dict[str, Any]] = []

    def add(name: str, value: str, met: bool | None) -> None:
        rows.append({"target": name, "measured": value, "met": met})

    def cpu(way: str, n: int) -> float | None:
        point = _point(results, way, n)
        return point.get("cpu_ms_per_msg") if point and not point.get("error") else None

    for n in (100, 500, 1000):
        ratio = _ratio(cpu("product", n), cpu("floor", n))
        add(f"product CPU/msg ≤ 1.5 x floor at {n}", _x(ratio, 2), None if ratio is None else ratio <= 1.5)
    ratio = _ratio(cpu("elements", 1000), cpu("product", 1000))
    point = _point(results, "elements", 1000)
    if ratio is None and point is not None and point.get("collapsed"):
        add("product CPU/msg ≥ 4x cheaper than (a) at 1000", "(a) collapsed: no per-message figure", None)
    else:
        add("product CPU/msg ≥ 4x cheaper than (a) at 1000", _x(ratio, 1), None if ratio is None else ratio >= 4)
    product, floor = _point(results, "product", 1000), _point(results, "floor", 1000)
    if product is not None:
        lost, dropped = product.get("lost"), product.get("dropped")
        add(
            "1000 clients at 2 msg/s: 0 lost, 0 dropped",
            f"{_f(lost)} lost, {_f(dropped)} dropped",
            lost == 0 == dropped,
        )
        p99 = (product.get("latency_ms") or {}).get("p99")
        floor_p99 = ((floor or {}).get("latency_ms") or {}).get("p99")
        ratio = _ratio(p99, floor_p99)
        add(
            "product p99 ≤ 1.3 x floor p99 at 1000",
            f"{_f(p99)} vs {_f(floor_p99)} ms = {_x(ratio, 2)}",
            None if ratio is None else ratio <= 1.3,
        )
    large = {p["way"]: p for p in results.get("large") or []}
    if "product" in large:
        product, floor = large["product"], large.get("floor") or {}
        p99 = (product.get("latency_ms") or {}).get("p99")
        floor_p99 = (floor.get("latency_ms") or {}).get("p99")
        ratio = _ratio(p99, floor_p99)
        lost, dropped = product.get("lost"), product.get("dropped")
        add(
            f"{product['clients']:,} tabs at {product['rate']:g} msg/s: 0 lost, 0 dropped, p99 ≤ 1.3 x floor",
            f"{_f(lost)} lost, {_f(dropped)} dropped; {_f(p99)} vs {_f(floor_p99)} ms = {_x(ratio, 2)}",
            lost == 0 == dropped and ratio is not None and ratio <= 1.3,
        )
    for point in results.get("idle") or []:
        if point["label"] == "product" and point.get("cpu_per_1000_tabs") is not None:  # as main.py serves it
            idle_cpu = 100 * point["cpu_per_1000_tabs"]
            add(
                "idle CPU ≤ 4% of a core per 1,000 tabs in steady state",
                f"{idle_cpu:.1f}% ({point.get('connected', 0):,} tabs)",
                idle_cpu <= 4,
            )
    largest = max((p for p in _points(results) if p["way"] == "product"), key=lambda p: p["clients"], default=None)
    if largest is not None and largest.get("rss_kib_per_client") is not None:
        kib = largest["rss_kib_per_client"]
        add(f"≤ 130 KiB server memory per client (at {largest['clients']})", f"{kib:.0f} KiB", kib <= 130)
    rooms = {r["messages"]: r for r in (results.get("history") or {}).get("rooms", [])}
    if 1000 in rooms and 100_000 in rooms:
        for kind, label in (("first_page_ms", "first page"), ("load_more_ms", "Load more")):
            small, large = rooms[1000][kind]["p50"], rooms[100_000][kind]["p50"]
            ratio = large / small
            add(
                f"history {label} p50 at 100k ≤ 1.2 x 1k and ≤ 20 ms",
                f"{large:.1f} ms vs {small:.1f} ms = {ratio:.2f}x",
                ratio <= 1.2 and large <= 20,
            )
    spread = results.get("rooms")
    for point in rooms_phase.points(spread) if spread else []:
        everyone, alone, times = point["all"], point["alone"], point.get("ratio")
        add(
            f"CPU/msg to one room with {spread['rooms'] * spread['per_room']:,} tabs in {spread['rooms']} rooms "
            f"≤ {rooms_phase.TARGET_RATIO} x with its {spread['per_room']} tabs alone, at {_f(point['rate'])} msg/s",
            f"{_f(everyone.get('cpu_ms_per_msg'), 2)} vs {_f(alone.get('cpu_ms_per_msg'), 2)} ms = {_x(times, 2)}",
            None if times is None else times <= rooms_phase.TARGET_RATIO,
        )
    write = results.get("write_path")
    if write:
        rate = write["messages_per_second"]
        every_post_reads = (write.get("read_every_post_run") or {}).get("messages_per_second", rate)
        # the capacity target counts the worst case: every post reads its session, none reuses a recent read
        add(
            f"≥ {WRITE_TARGET} msg/s on the write path (one process), every post reading its session",
            f"{every_post_reads:.0f} msg/s; {rate:.0f} when a recent session read is reused",
            every_post_reads >= WRITE_TARGET,
        )
    if results.get("presence"):
        for row in presence.targets(results["presence"]):
            add(*row)
    if results.get("join"):
        for row in join.targets(results["join"]):
            add(*row)
    if results.get("storm"):
        rows.append(storm.target(results["storm"]))
    return rows


def harness_problems(results: dict[str, Any]) -> list[str]:
    """What says the harness itself is broken (as opposed to a way that collapsed under load)."""
    problems = []
    smallest: dict[str, dict[str, Any]] = {}
    for point in _points(results):
        if point["way"] not in smallest or point["clients"] < smallest[point["way"]]["clients"]:
            smallest[point["way"]] = point
    for way, point in smallest.items():
        if point.get("error"):
            problems.append(f"{way} at {point['clients']}: {point['error']}")
        elif not point.get("received"):
            problems.append(f"{way} at {point['clients']}: no client received anything")
    settings = results.get("settings", {})
    if "fanout" in settings.get("only", "") and not smallest:
        problems.append("no fan-out point was measured")
    if "idle" in settings.get("only", "") and not all(p.get("connected") for p in results.get("idle") or [{}]):
        problems.append("an idle point connected no tab")
    if "write" in settings.get("only", "") and not (results.get("write_path") or {}).get("messages"):
        problems.append("the write path stored nothing")
    if "memory" in settings.get("only", "") and settings.get("memory_clients"):
        traced = [p for p in results.get("memory") or [] if (p.get("memory_grown") or {}).get("tracing")]
        if len(traced) != 2:
            problems.append("the traced memory runs did not report their allocations")
    if "storm" in settings.get("only", "") and not (results.get("storm") or {}).get("back"):
        problems.append(f"storm: no tab came back ({(results.get('storm') or {}).get('error', 'no error')})")
    if "rooms" in settings.get("only", ""):
        for index, measured in enumerate(rooms_phase.points(results.get("rooms") or {})):
            for which in ("alone", "all"):
                point = measured[which] or {}
                name = which if index == 0 else f"{which} at {measured['rate']:g} msg/s"
                if point.get("error"):
                    problems.append(f"rooms ({name}): {point['error']}")
                elif not point.get("received"):
                    problems.append(f"rooms ({name}): no tab of the room received anything")
                elif point.get("connect_failed"):
                    # a point that holds fewer tabs than it says measures something else
                    problems.append(
                        f"rooms ({name}): {point['connect_failed']} of {point['clients']} tabs did not connect"
                    )
    if "history" in settings.get("only", "") and not (results.get("history") or {}).get("rooms"):
        problems.append("no history page was read")
    if "shard" in settings.get("only", ""):
        points = (results.get("shard") or {}).get("points") or []
        if not points:
            problems.append("no shard point was measured")
        problems += [
            f"shard: {p['command']} with {p['subscribers']} subscriber(s): nothing arrived"
            for p in points
            if not p["received"]
        ]
    return problems


def _fanout_table(results: dict[str, Any], points: list[dict[str, Any]] | None = None) -> list[str]:
    baseline = _baseline_cpu(results)
    lines = [
        "| way | clients | connected | CPU/msg (ms) | fan-out CPU per client (µs) | p50 (ms) | p99 (ms) | max (ms) "
        "| lost | dropped | GC pauses (n / max ms) | RSS/client (KiB) | idle CPU (% core per 1000) | clients' CPU "
        "(cores) | rest of machine (cores) | note |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for p in _points(results) if points is None else points:
        latency = p.get("latency_ms") or {}
        note = p.get("error", "")
        if not note and p.get("collapsed"):
            note = "collapsed" if p.get("lost") or p.get("dropped") else "post errors"
        if p.get("post_errors"):
            note += f" ({p['post_errors']} of {p['posted']} posts failed)"
        lines.append(
            f"| {LABELS.get(p['way'], p['way'])} | {p['clients']:,} | {_f(p.get('connected'))} "
            f"| {_f(p.get('cpu_ms_per_msg'), 2)} | {_f(_per_client_us(p, baseline), 0)} "
            f"| {_f(latency.get('p50'))} | {_f(latency.get('p99'))} | {_f(latency.get('max'))} "
            f"| {_f(p.get('lost'))} | {_f(p.get('dropped'))} | {_gc(p.get('gc_active'))} "
            f"| {_f(p.get('rss_kib_per_client'), 0)} "
            f"| {_f(idle_pct_per_1000(p, results), 1)} | {_f(p.get('client_cpu_cores'), 2)} "
            f"| {_f(p.get('other_cpu_cores'), 2)} | {note} |"
        )
    return lines


def _every_post(run: dict[str, Any] | None) -> list[str]:
    if not run:
        return []
    return [
        f"- **{run['messages_per_second']:.0f} messages/s when every post reads its session** "
        f"({run['messages']:,} messages; send p50 {run['send_ms']['p50']:.1f} ms, p99 {run['send_ms']['p99']:.1f} ms; "
        f"this process {run['process_cpu_ms_per_msg']:.2f} ms of CPU per message).",
    ]


def _memory_section(results: dict[str, Any]) -> list[str]:
    """What grew per connected tab, by source line, in the traced runs of the floor and the product."""
    traced = {p["way"]: p for p in results.get("memory") or [] if (p.get("memory_grown") or {}).get("tracing")}
    if not traced:
        return []
    clients = next(iter(traced.values()))["clients"]

    def per_tab(point: dict[str, Any]) -> dict[str, float]:
        return {where: size / 1024 / point["clients"] for where, size, _ in point["memory_grown"]["lines"]}

    lines = {way: per_tab(point) for way, point in traced.items()}
    wheres = sorted(
        {w for way in lines.values() for w, kib in way.items() if kib >= 1.0},
        key=lambda w: -max(way.get(w, 0.0) for way in lines.values()),
    )
    ways = [w for w in ("floor", "product") if w in traced]

    def cell(way: str, where: str) -> str:
        kib = lines[way].get(where)
        return "-" if kib is None else f"{kib:.1f}"

    out = [
        "",
        f"## Where a tab's memory goes (traced, {clients} tabs)",
        "",
        "The floor and the product once more with allocation tracing (`PYTHONTRACEMALLOC=1`): the Python memory "
        "that grew while the tabs connected, per tab, by the line that allocated it; the lines where either way grew "
        "by 1 KiB or more per tab (-: not among the 100 largest lines of that way). Tracing slows the server and "
        "adds its own memory, so these runs give no timings and their RSS is not the fan-out table's.",
        "",
        "| allocated at | " + " | ".join(f"{LABELS[w]} (KiB/tab)" for w in ways) + " |",
        "|---|" + "---:|" * len(ways),
        "| **all lines** | "
        + " | ".join(f"**{traced[w]['memory_grown']['total_bytes'] / 1024 / traced[w]['clients']:.1f}**" for w in ways)
        + " |",
    ]
    out += [f"| `{where}` | " + " | ".join(cell(w, where) for w in ways) + " |" for where in wheres]
    return out


def _rooms_section(rooms: dict[str, Any] | None, settings: dict[str, Any], floor_us: float | None) -> list[str]:
    if not rooms:
        return []
    per_room, count = rooms["per_room"], rooms["rooms"]
    lines = [
        "",
        "## Rooms: one message among many rooms' tabs",
        "",
        f"{count} rooms made through `POST /api/rooms`, each with {_f(settings.get('page_size'), 0)} messages of "
        f"history; a sender posts {_f(settings.get('rate'))} messages/s for {_f(settings.get('duration'))} s to the "
        f"first room (`POST /api/rooms/<room>/messages`), and every tab of that room should receive every message. "
        f"First only that room's {per_room} tabs are connected (`/r/<room>`), then {per_room} tabs in each of the "
        f"{count} rooms, each point on a fresh server. **CPU/msg** is measured as in the fan-out table, "
        + (
            f"over idle and active windows of {_f(settings.get('rooms_window'), 0)} s each (whole rounds of the "
            "server's 15 s catch-up, which reads every shown room), "
            f"{_f(settings.get('rooms_cycles'))} pairs of them with every room's tabs (one with the room's alone), "
            "a fresh burst each, averaged: with 1,000 tabs a window's idle CPU is worth far more than its messages, "
            "and moves by about 0.5% of a core from one window to the next; "
            if settings.get("rooms_window")
            else "; "
        )
        + "**event loop** is the part of it on the server's event "
        "loop thread (sockets, emits, views), the rest being its other threads (the storage threads' boto3 calls). "
        "The tabs of the other rooms never show the message: ideally they cost nothing for it.",
        "",
        "| msg/s | tabs connected | rooms with tabs | CPU/msg (ms) | each window pair (ms) | of it, event loop (ms) "
        "| room-list frames per message | p50 (ms) | p99 (ms) | max (ms) | lost | dropped | idle CPU (% of a core) "
        "| RSS/tab (KiB) | note |",
        "|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    measured = rooms_phase.points(rooms)
    for point in measured:
        for which in ("alone", "all"):
            p = point[which]
            latency = p.get("latency_ms") or {}
            note = p.get("error", "") or ("collapsed" if p.get("collapsed") else "")
            each = ", ".join(_f(cycle.get("cpu_ms_per_msg"), 1) for cycle in p.get("cycles") or [])
            lines.append(
                f"| {_f(point['rate'])} | {_f(p.get('connected'))} | {_f(p.get('shown_rooms'))} "
                f"| {_f(p.get('cpu_ms_per_msg'), 2)} | {each or '-'} | {_f(p.get('loop_cpu_ms_per_msg'), 2)} "
                f"| {_f(p.get('activity_frames_per_msg'), 0)} | {_f(latency.get('p50'))} "
                f"| {_f(latency.get('p99'))} | {_f(latency.get('max'))} | {_f(p.get('lost'))} | {_f(p.get('dropped'))} "
                f"| {_f(100 * (p.get('idle_cpu_cores') or 0), 1)} | {_f(p.get('rss_kib_per_client'), 0)} | {note} |"
            )
    lines += [""]
    lines += [
        f"**Ratio at {_f(point['rate'])} msg/s: {_x(point.get('ratio'), 2)}** (target ≤ {rooms_phase.TARGET_RATIO}x)."
        for point in measured
    ]
    if len(measured) > 1:
        lines += [
            "",
            "The second rate is what 1,000 tabs send in the plan of `docs/scaling.md` (8,300 msg/s over 1,000,000 "
            "tabs): the room list's frames are paced per second, so the faster messages come, the less of them "
            "each message carries.",
        ]
    frames = rooms["all"].get("activity_frames_per_msg")
    if frames and floor_us:
        lines += [
            "",
            f"**Room-list frames** are the activity emits' socket writes (the other rooms' unread counts) that reached "
            f"the tabs, per message posted. At the floor's {floor_us:.0f} µs per tab and message (fan-out table, "
            f"largest point) they account for about {frames * floor_us / 1000:.1f} ms of CPU per message with every "
            "room's tabs: the emits are spaced by the number of tabs (`components/broadcast.py`), so this share "
            "is bounded per second, and falls per message as messages come faster.",
        ]
    profile = rooms["all"].get("profile")
    if profile:
        lines += [
            "",
            f"Profile: `{Path(str(profile)).name}` (cProfile of the event loop thread, the same burst again after "
            f"the measured one, with every room's tabs).",
        ]
    return lines


def _shard_section(shard: dict[str, Any] | None) -> list[str]:
    if not shard:
        return []
    return [
        "",
        "## One Redis shard",
        "",
        f"`Bus.publish` (sealed events of one chat line) from {shard['concurrency']} concurrent loops in one process "
        f"for {shard['seconds']:g} s per row, to one channel that N connections subscribe to (each standing for an "
        "app process that shows the room), held by a child process that counts what reaches them. **Shard CPU** is "
        "the redis-server's own CPU (/proc/<pid>/stat) per publish, fan-out to the N subscribers included; **ceiling** "
        "is one core divided by it: what the shard could take doing nothing else (extrapolated; Redis runs commands "
        "on one thread). **Publisher CPU** is the publishing process's CPU per publish (sealing, redis-py).",
        "",
        "| server | command | subscribers | publishes/s (one process) | shard CPU per publish (µs) "
        "| shard busy (cores) | ceiling (publishes/s) | deliveries/s at the ceiling | publisher CPU per publish (µs) "
        "| lost | failed |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {p['server']} ({p['address']}) | {p['command']} | {p['subscribers']} "
            f"| {p['publishes_per_second']:,.0f} | {_f(p['server_cpu_us_per_publish'], 1)} "
            f"| {_f(p['server_cpu_cores'], 2)} | {_f(p['ceiling_publishes_per_second'], 0)} "
            f"| {_f(p['ceiling_deliveries_per_second'], 0)} "
            f"| {_f(p['publisher_cpu_us_per_publish'], 1)} | {p['lost']:,} | {p['failed']:,} |"
            for p in shard["points"]
        ),
    ]


def markdown(results: dict[str, Any]) -> str:
    settings = results.get("settings", {})
    machine = results.get("machine", {})
    baseline = _baseline_cpu(results)
    out = [
        "# Benchmarks",
        "",
        "Written by `bench/` (do not edit by hand; every run overwrites this file, `benchmarks.json` and "
        "`benchmarks.png`).",
        "",
        f"Run {results.get('started')} to {results.get('finished')} ({results.get('minutes', 0):.1f} min):",
        "",
        "```",
        'eval "$(scripts/services.sh start)"',
        results.get("command", ""),
        "```",
        "",
        "## Targets",
        "",
        "Ratios come from the same run.",
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]
    out += [f"| {t['target']} | {t['measured']} | {_f(t['met'])} |" for t in results.get("targets", [])]
    if results.get("idle"):
        out += ["", idle.markdown(results["idle"]).rstrip()]
    if results.get("fanout"):
        out += [
            "",
            "## Fan-out",
            "",
            f"A sender posts {_f(settings.get('rate'))} messages/s through `POST /api/messages` for "
            f"{_f(settings.get('duration'))} s; every connected tab should receive every message. Each point runs on a "
            "freshly started server (`python -m bench.server --way <way>`, wired like `main.py`, DynamoDB Local and "
            f"Redis), with {results.get('page_size')} messages in the room so every view starts with "
            f"{results.get('page_size')} (CHAT_PAGE_SIZE={results.get('page_size')}).",
            "",
            "- **CPU/msg**: server CPU (all threads, /proc/<pid>/stat) from the first post until every tab had every "
            "message, minus the idle CPU of the same tabs for the same time, divided by the messages posted. It "
            "includes the post itself (API, DynamoDB write, Redis publish): "
            + (f"{baseline:.2f} ms with 0 clients." if baseline is not None else "not measured in this run.")
            + " **Fan-out CPU per client** is CPU/msg minus that, divided by the clients.",
            "- **p50/p99/max**: from the start of the POST to the frame carrying the message arriving at a tab, over "
            "every (tab, message).",
            "- **lost**: messages posted (201) x tabs connected at the start - arrivals; **dropped**: sockets "
            "closed by the server during the run.",
            "- **RSS/client**: (server RSS with the tabs connected - RSS with only the warm-up tab connected) / "
            "clients.",
            "- **idle CPU**: server CPU with the tabs connected and nothing posted, minus the idle CPU of the "
            f"0-client server ({100 * _baseline_idle(results):.1f}% of a core), per 1,000 clients.",
            "- **clients**: browser tabs at the protocol level (`bench/tab.py`): the page request with the "
            "browser's cookie (product: logged in through a bench-only route that writes the session the Join button "
            "writes), then NiceGUI's Socket.IO WebSocket on its own connection with the query nicegui.js sends, "
            "offering permessage-deflate as browsers do"
            + ("" if settings.get("deflate", True) else " (**not** in this run: `--no-deflate`)")
            + " (the server declines it, as `main.serve` does), answering pings, acknowledging outbox messages "
            "every 3 s, and (product) joining the room like "
            f"`chat_panel.js`; spread over up to {settings.get('client_procs')} client processes. Static assets "
            "are not fetched.",
            "- **GC pauses**: the server's garbage-collector pauses of 1 ms or more during the active window "
            "(a bench-only `gc.callbacks` probe), and the longest.",
            "- **clients' CPU / rest of machine**: the client processes' CPU, and everything else on the machine "
            "(DynamoDB Local, Redis, other users) during the active window; the machine has "
            f"{machine.get('cpus')} CPUs, so a busy rest of machine slows every way alike.",
            "",
            *_fanout_table(results),
            "",
            "![latency and CPU against clients](benchmarks.png)",
        ]
    if results.get("large"):
        large = results["large"]
        out += [
            "",
            f"## {large[0]['clients']:,} tabs on one process",
            "",
            f"As the fan-out, at {_f(large[0].get('rate'))} message/s, the floor and the product, each on a fresh "
            "server.",
            "",
            *_fanout_table(results, large),
        ]
    product = [p for p in _points(results) if p["way"] == "product"]
    if product:
        out += [
            "",
            "## Memory and idle CPU (product)",
            "",
            "Objects: what the garbage collector tracks (`len(gc.get_objects())`), i.e. what every full collection "
            "walks; its pauses are in the fan-out table.",
            "",
            "| clients | RSS (MiB) | RSS with 0 (MiB) | KiB per client | objects | objects per client "
            "| idle server CPU (% of a core) | per 1,000 clients |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        out += [
            f"| {p['clients']:,} | {_f(p.get('rss_mib'))} | {_f(p.get('rss_empty_mib'))} "
            f"| {_f(p.get('rss_kib_per_client'), 0)} | {_f(p.get('gc_objects'))} "
            f"| {_f(p.get('gc_objects_per_client'), 0)} | {_f(100 * (p.get('idle_cpu_cores') or 0), 1)} "
            f"| {_f(idle_pct_per_1000(p, results), 1)} |"
            for p in product
        ]
    out += _memory_section(results)
    floors = [p for p in _points(results) if p["way"] == "floor" and not p.get("collapsed")]
    floor_us = _per_client_us(max(floors, key=lambda p: p["clients"]), baseline) if floors else None
    out += _rooms_section(results.get("rooms"), {**settings, "page_size": results.get("page_size")}, floor_us)
    history = results.get("history")
    if history:
        out += [
            "",
            "## History pages (DynamoDB Local)",
            "",
            f"`MessageStore.page(limit={history['page_size']})` as the chat view calls it (through the storage "
            "threads), "
            f"{history['samples']} calls each after 10 warm-up calls, the rooms taking turns call by call. Load more: "
            "the page after the first; deep: from a random message of the room.",
            "",
            "| messages in the room | written in (s) | first page p50 / p99 (ms) | Load more p50 / p99 (ms) "
            "| Load more, deep p50 / p99 (ms) |",
            "|---:|---:|---:|---:|---:|",
        ]
        for room in history["rooms"]:
            kinds = ("first_page_ms", "load_more_ms", "load_more_deep_ms")
            cells = " | ".join(f"{room[k]['p50']:.1f} / {room[k]['p99']:.1f}" for k in kinds)
            out.append(f"| {room['messages']:,} | {room['write_seconds']:.1f} | {cells} |")
    write = results.get("write_path")
    if write:
        out += [
            "",
            "## Write path (one process)",
            "",
            f"`ChatService.send` from {write['concurrency']} concurrent loops, each with a session of its own, for "
            f"{write['seconds']:.0f} s against DynamoDB Local and Redis, with the process's subscriber running (it "
            "receives its own publishes and drops them as seen). A busy sender's post reuses a read of its session "
            "made within the last 2 s; the second run reads the session for every post, as when every post comes "
            "from someone who has not posted for a while.",
            "",
            f"- **{write['messages_per_second']:.0f} messages/s** ({write['messages']:,} messages); send p50 "
            f"{write['send_ms']['p50']:.1f} ms, p99 {write['send_ms']['p99']:.1f} ms.",
            *_every_post(write.get("read_every_post_run")),
            f"- CPU per message: this process {write['process_cpu_ms_per_msg']:.2f} ms "
            f"({write['process_cpu_cores']:.2f} cores busy), "
            f"DynamoDB Local {_f(write.get('dynamodb_local_cpu_ms_per_msg'), 2)} ms, "
            f"Redis {_f(write.get('redis_cpu_ms_per_msg'), 3)} ms.",
            "",
            "| stage | calls per message | p50 (ms) | p99 (ms) |",
            "|---|---:|---:|---:|",
            *(
                f"| {stage} | {_f(_ratio(write.get('stage_calls', {}).get(stage), write['messages']), 2)} "
                f"| {s['p50']:.1f} | {s['p99']:.1f} |"
                for stage, s in write["stages_ms"].items()
            ),
            *writepath_report.comparison(write),
            "",
            f"Profile: `{Path(str(write['profile'])).name}`."
            if str(write.get("profile", "")).endswith(".txt")
            else f"Profile: {write.get('profile', 'not taken')}.",
        ]
    out += _shard_section(results.get("shard"))
    if results.get("join"):
        out += ["", *join.markdown(results["join"])]
    if results.get("storm"):
        out += ["", storm.markdown(results["storm"])]
    out += [
        "",
        "## Machine",
        "",
        f"- CPU: {machine.get('cpu_model')}, {machine.get('cpus')} CPUs; memory {machine.get('memory_total')}; "
        f"Linux {machine.get('kernel')}; Python {machine.get('python')}; load average at start "
        f"{', '.join(f'{v:.2f}' for v in machine.get('load_average', []))}.",
        "",
        "```",
        str(machine.get("free_m", "")),
        "```",
        "",
    ]
    return "\n".join(out)


def plot(json_path: Path, png_path: Path) -> None:
    """Draw the plot in a throwaway environment with matplotlib (nothing is added to the project)."""
    uv = shutil.which("uv")
    if uv is None:
        log("no plot: uv is not available")
        return
    command = [uv, "run", "--no-sync", "--with", "matplotlib", "python", "-m", "bench.plot"]
    command += [str(json_path), str(png_path)]
    try:
        subprocess.run(command, cwd=REPO, check=True, timeout=300)
    except (OSError, subprocess.SubprocessError) as exc:
        log(f"no plot: {exc}")


def write_pages(results: dict[str, Any], out: Path) -> None:
    """benchmarks.md, and the presence and join storm pages when the run has those phases, into ``out``."""
    results["targets"] = targets(results)
    (out / "benchmarks.md").write_text(markdown(results))
    if "presence" in results:
        (out / "benchmarks-presence.md").write_text(presence.markdown(results["presence"], results["command"]))
    if "join" in results:
        (out / "benchmarks-join.md").write_text(join.page(results["join"], results["command"]))


if __name__ == "__main__":
    stored = Path(sys.argv[1] if len(sys.argv) > 1 else REPO / "docs" / "benchmarks.json")
    run = json.loads(stored.read_text())
    write_pages(run, stored.parent)
    stored.write_text(json.dumps(run, indent=2) + "\n")  # with the targets as defined now
