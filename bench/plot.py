"""benchmarks.png from benchmarks.json: latency and CPU per message against clients, one line per way.

    uv run --no-sync --with matplotlib python -m bench.plot docs/benchmarks.json docs/benchmarks.png
(imports nothing of the app, so it runs in a throwaway environment that only adds matplotlib)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

LABELS = {
    "product": "product (room emit)",
    "floor": "(d) floor: raw room emit",
    "elements": "(a) chat_message per client",
    "refreshable": "(b) refreshable list",
    "redis-per-client": "(c) Redis per client",
}


def draw(results: dict[str, Any], path: Path) -> None:
    points = [p for p in results.get("fanout", []) if p.get("clients")]
    ways = list(dict.fromkeys(p["way"] for p in points))
    figure, (latency_axis, cpu_axis) = plt.subplots(1, 2, figsize=(13, 5))
    for way in ways:
        mine = sorted((p for p in points if p["way"] == way), key=lambda p: p["clients"])
        for axis, value in (
            (latency_axis, lambda p: (p.get("latency_ms") or {}).get("p99")),
            (cpu_axis, lambda p: p.get("cpu_ms_per_msg")),
        ):
            xs = [p["clients"] for p in mine if value(p) is not None]
            ys = [value(p) for p in mine if value(p) is not None]
            (line,) = axis.plot(xs, ys, marker="o", label=LABELS.get(way, way))
            broken = [(p["clients"], value(p)) for p in mine if p.get("collapsed") and value(p) is not None]
            if broken:
                axis.scatter(*zip(*broken, strict=True), marker="x", s=120, color=line.get_color(), zorder=3)
    rate, duration = results["settings"]["rate"], results["settings"]["duration"]
    for axis, title, unit in (
        (latency_axis, "p99 latency, POST to arrival at each tab", "ms"),
        (cpu_axis, "server CPU per message (incl. the post itself)", "ms CPU"),
    ):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("connected clients")
        axis.set_ylabel(unit)
        axis.set_title(title)
        axis.grid(True, which="both", alpha=0.3)
    latency_axis.legend(fontsize=8)
    figure.suptitle(f"sinchchat fan-out at {rate:g} msg/s for {duration:g} s per point (x: lost or dropped)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    draw(json.loads(source.read_text()), target)
