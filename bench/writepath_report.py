"""The write path's lines of the report beyond its headline figures: the run on botocore's own HTTP session, and
where the CPU of a post goes on each transport (py-spy's samples by area, as milliseconds of CPU per message)."""

from __future__ import annotations

from typing import Any


def comparison(write: dict[str, Any]) -> list[str]:
    """The every-post-reads-its-session run on botocore's own HTTP session (urllib3), and the profiles of both."""
    out: list[str] = []
    old = write.get("botocore_http_run")
    if old:
        out.append(
            f"- The same on botocore's own HTTP session (urllib3) instead of `chat/storage/http.py`: "
            f"**{old['messages_per_second']:.0f} messages/s** ({old['messages']:,} messages; send p50 "
            f"{old['send_ms']['p50']:.1f} ms; this process {old['process_cpu_ms_per_msg']:.2f} ms of CPU per message)."
        )
    areas = write.get("profile_areas") or {}
    lean, heavy = areas.get("lean"), areas.get("botocore_http")
    if not (lean and heavy):
        return out

    def cell(profile: dict[str, Any], area: str) -> str:
        share = profile["shares"].get(area, 0.0)
        return f"{100 * share:.0f}% | {share * profile['process_cpu_ms_per_msg']:.2f}"

    names = sorted(set(lean["shares"]) | set(heavy["shares"]), key=lambda a: -heavy["shares"].get(a, 0.0))
    out += [
        "",
        "Where a post's CPU goes when every post reads its session (py-spy samples of the thread holding the GIL, by "
        "the innermost frame in a known area, times the process's CPU per message under the profiler):",
        "",
        "| area | botocore's HTTP: share | ms/msg | chat/storage/http.py: share | ms/msg |",
        "|---|---:|---:|---:|---:|",
        *(f"| {area} | {cell(heavy, area)} | {cell(lean, area)} |" for area in names),
        f"| **all** (under the profiler: {heavy['messages_per_second']:.0f} vs {lean['messages_per_second']:.0f} msg/s)"
        f" | 100% | {heavy['process_cpu_ms_per_msg']:.2f} | 100% | {lean['process_cpu_ms_per_msg']:.2f} |",
    ]
    return out
