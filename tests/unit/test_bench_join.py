"""The join storm's harness: samples attributed to the part of a page build that took them, the targets and the
report. A slip here would send the work on a page build to the wrong place."""

from __future__ import annotations

from typing import Any

from bench import join, report

_LOOP = "Runner.run (asyncio/runners.py:118);serve (main.py:112)"
_THREAD = "Thread._bootstrap (threading.py:1002);_WorkItem.run (concurrent/futures/thread.py:58)"


def test_samples_go_to_the_storage_read_that_made_them_else_to_the_innermost_known_part() -> None:
    raw = "\n".join(
        [
            f"{_LOOP};room_page (components/pages.py:81);resume (chat/service.py:167);by_name (x) 3",
            f"{_THREAD};_get (chat/storage/users.py:120);_make_api_call (botocore/client.py:1) 2",
            f"{_LOOP};room_page (components/pages.py:81);build_response (nicegui/client.py:212) 5",
            f"{_LOOP};__init__ (components/chat_view.py:52);__init__ (nicegui/element.py:51) 4",
            f"{_LOOP};send (uvicorn/protocols/websockets/wsproto_impl.py:377) 1",
            f"{_LOOP};send_frame (websockets/protocol.py:612) 2",
            f"{_LOOP};_run_once (asyncio/base_events.py:1) 7",
            "not a sample",
        ]
    )
    assert dict(join.attribute(raw)) == {
        "session read (cookie -> session)": 5,
        "NiceGUI response (template, elements to JSON)": 5,
        "NiceGUI element creation": 4,
        "uvicorn WebSocket protocol": 3,
        "asyncio event loop, threads": 7,
    }


def _point(way: str, seconds: float, errors: int = 0, p99: float = 1.0) -> dict[str, Any]:
    stats = {"n": 10, "p50": 0.5, "p99": p99, "max": p99}
    return {
        "way": way,
        "opened": 10,
        "errors": errors,
        "seconds": seconds,
        "history_in_page": 10 if way == "product" else 0,
        "page": stats,
        "connected": stats,
        "joined": stats if way == "product" else None,
        "ready": stats,
        "cpu_ms_per_tab": 10.0,
        "server_cores": 0.5,
        "dynamodb_local_ms_per_tab": None,
        "machine_busy": 1.5,
        "rss_kib_per_tab": 100.0,
    }


def test_the_targets_compare_the_storms_of_one_run_and_the_tail_of_page_ready() -> None:
    result = {"tabs": 10, "concurrency": 4, "points": [_point("floor", 2.0), _point("product", 2.5)], "ratio": 1.25}
    assert [met for _, _, met in join.targets(result)] == [True, True]
    slow = {**result, "points": [_point("floor", 2.0), _point("product", 2.5, errors=1, p99=2.5)]}
    assert [met for _, _, met in join.targets(slow)] == [False, False]
    rows = [row for row in report.targets({"join": result}) if row["target"].startswith("join storm")]
    assert [row["met"] for row in rows] == [True, True]


def test_the_report_shows_both_ways_and_the_ratio() -> None:
    result = {"tabs": 10, "concurrency": 4, "points": [_point("floor", 2.0), _point("product", 5.0)], "ratio": 2.5}
    text = join.page(result, "uv run python -m bench --only join")
    assert text.startswith("# Join storm")
    assert "| floor | 10 | 0 | 2.0 |" in text
    assert "| product | 10 | 0 | 5.0 |" in text
    assert "2.50x the floor's" in text
