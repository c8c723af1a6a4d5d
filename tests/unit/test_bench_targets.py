"""The targets table of docs/benchmarks.md: each row says what the capacity targets ask, from the run's results."""

from __future__ import annotations

from typing import Any

from bench import presence, report


def _presence(*, typing_cpu: float, churn_cpu: float, churn_frames: float) -> dict[str, Any]:
    return {
        "tabs": 1000,
        "windows": [
            {"window": "idle", "server_cpu": 0.02, "frames_per_tab_second": 0.0},
            {"window": "typing", "server_cpu_above_idle": typing_cpu, "frames_per_tab_second": 1.0},
            {"window": "typing and churn", "server_cpu_above_idle": churn_cpu, "frames_per_tab_second": churn_frames},
        ],
    }


def _row(rows: list[dict[str, Any]], starts: str) -> tuple[str, str, bool | None]:
    (row,) = [(r["target"], r["measured"], r["met"]) for r in rows if r["target"].startswith(starts)]
    return row


def test_the_write_path_is_held_to_600_messages_a_second_with_every_post_reading_its_session() -> None:
    def write(rate: float, every_post_reads: float) -> tuple[str, str, bool | None]:
        results = {
            "write_path": {
                "messages_per_second": rate,
                "read_every_post_run": {"messages_per_second": every_post_reads},
            }
        }
        return _row(report.targets(results), "≥ 600 msg/s")

    assert write(700, 650) == (
        "≥ 600 msg/s on the write path (one process), every post reading its session",
        "650 msg/s; 700 when a recent session read is reused",
        True,
    )
    assert write(700, 599)[2] is False  # reuse does not count


def test_presence_and_typing_are_held_to_10_percent_of_a_core_and_2_frames_a_tab_each_second() -> None:
    rows = presence.targets(_presence(typing_cpu=0.08, churn_cpu=0.321, churn_frames=1.77))
    assert rows == [
        ("presence and typing at 1,000 tabs, typing: ≤ 10% of a core above idle", "+8.0%", True),
        ("presence and typing at 1,000 tabs, typing and churn: ≤ 10% of a core above idle", "+32.1%", False),
        ("presence and typing at 1,000 tabs: ≤ 2 frames per tab per second", "1.77 at most", True),
    ]
    assert presence.targets(_presence(typing_cpu=0.05, churn_cpu=0.05, churn_frames=2.5))[2][2] is False
    results = {"presence": _presence(typing_cpu=0.05, churn_cpu=0.05, churn_frames=1.0)}
    assert _row(report.targets(results), "presence and typing at 1,000 tabs, typing:")[2] is True
