"""The rooms point's harness: rooms the API will make, tabs armed by page, frames counted, the ratio and its report.
A slip in any of these would report a cost, or a loss, that the product does not have."""

from __future__ import annotations

from typing import Any

from bench import report
from bench.rooms import ratio, room_names
from bench.tab import Tab, TabSpec
from bench.workers import _Worker
from chat.rooms import check_room_name, lookalike_key, room_id

_MESSAGE = '42["sinchchat_messages",[{"text":"benchmark message tkab12cdn7e"}]]'
_ACTIVITY = '42["sinchchat_activity",{"bench room 000":["2026-11-29T19:20:31.499Z#346b4db2b82eaf14",1]}]'


def test_the_rooms_are_valid_names_that_no_other_of_them_looks_like() -> None:
    names = room_names(100)
    assert [check_room_name(name) for name in names] == list(names)
    assert len({room_id(name) for name in names}) == 100
    assert len({lookalike_key(name) for name in names}) == 100  # else POST /api/rooms refuses one with 409


def _tab(path: str) -> Tab:
    return Tab(name="u", spec=TabSpec(base_url="http://127.0.0.1:1", path=path, login=True, join=True))


def test_only_the_tabs_of_the_room_posted_to_look_for_its_messages() -> None:
    worker = _Worker()
    worker.tabs = [_tab("/r/a"), _tab("/r/a"), _tab("/r/b")]
    worker.tabs[1].dropped_at = 1.0
    assert worker.arm(r"tkab12cdn(\d+)e", "/r/a") == {"live": 1}
    for tab in worker.tabs:
        tab._take(_MESSAGE, now=5.0)
        tab._take(_ACTIVITY, now=5.0)
    worker.tabs[2]._take('42["sinchchat_presence",{"add":[],"gone":["a1"]}]', now=5.0)
    assert [tab.seen for tab in worker.tabs] == [{7: 5.0}, {7: 5.0}, {}]
    assert worker.count() == {"seen": 2, "live": 2, "activity": 3, "presence": 1, "presence_tabs": 1}
    worker.arm(r"other(\d+)", None)  # arming again starts every count afresh
    assert worker.count() == {"seen": 0, "live": 2, "activity": 0, "presence": 0, "presence_tabs": 0}


def _point(cpu: float | None, **more: Any) -> dict[str, Any]:
    return {"clients": 10, "connected": 10, "received": 400, "cpu_ms_per_msg": cpu, **more}


def test_the_ratio_is_every_rooms_tabs_over_the_rooms_own_and_absent_when_a_point_failed() -> None:
    assert ratio({"alone": _point(10.0), "all": _point(15.0)}) == 1.5
    assert ratio({"alone": _point(10.0), "all": _point(15.0, error="cut off")}) is None
    assert ratio({"alone": _point(None), "all": _point(15.0)}) is None


def _results(everyone: dict[str, Any], busy: dict[str, Any] | None = None) -> dict[str, Any]:
    rooms = {"rooms": 100, "per_room": 10, "rate": 2.0, "alone": _point(10.0, shown_rooms=1), "all": everyone}
    rooms["ratio"] = ratio(rooms)
    if busy is not None:
        rooms["busy"] = {"rate": 8.3, "alone": _point(8.0, shown_rooms=1), "all": busy}
        rooms["busy"]["ratio"] = ratio(rooms["busy"])
    return {"settings": {"only": "rooms", "rooms_window": 30.0, "rooms_cycles": 3}, "rooms": rooms}


def _rooms_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in report.targets(results) if "1,000 tabs in 100 rooms" in t["target"]]


def test_the_report_states_the_target_and_whether_it_was_met() -> None:
    met = _results(_point(14.0, clients=1000, connected=1000, shown_rooms=100, cycles=[{"cpu_ms_per_msg": 14.0}]))
    (target,) = _rooms_targets(met)
    assert target["met"] is True
    assert target["measured"] == "14.00 vs 10.00 ms = 1.40x"
    missed = _results(_point(16.0, clients=1000, connected=1000, shown_rooms=100))
    assert _rooms_targets(missed)[0]["met"] is False
    met["targets"] = report.targets(met)
    text = report.markdown(met)
    assert "## Rooms: one message among many rooms' tabs" in text
    assert "**Ratio at 2.0 msg/s: 1.40x** (target ≤ 1.5x)." in text


def test_a_busier_rate_is_a_second_pair_of_points_with_its_own_ratio_and_target() -> None:
    everyone = _point(28.0, clients=1000, connected=1000, shown_rooms=100)
    results = _results(everyone, busy=_point(11.0, clients=1000, connected=1000, shown_rooms=100))
    targets = _rooms_targets(results)
    assert [(t["target"].rsplit(", ", 1)[1], t["measured"], t["met"]) for t in targets] == [
        ("at 2.0 msg/s", "28.00 vs 10.00 ms = 2.80x", False),
        ("at 8.3 msg/s", "11.00 vs 8.00 ms = 1.38x", True),
    ]
    results["targets"] = report.targets(results)
    text = report.markdown(results)
    assert "**Ratio at 2.0 msg/s: 2.80x** (target ≤ 1.5x)." in text
    assert "**Ratio at 8.3 msg/s: 1.38x** (target ≤ 1.5x)." in text
    assert "| 8.3 | 1,000 | 100 | 11.00 |" in text
    failed = _results(everyone, busy=_point(11.0, clients=1000, connected=400, connect_failed=600, shown_rooms=100))
    assert report.harness_problems(failed) == ["rooms (all at 8.3 msg/s): 600 of 1000 tabs did not connect"]


def test_a_rooms_point_whose_tabs_did_not_all_connect_is_a_harness_problem() -> None:
    partial = _results(_point(14.0, clients=1000, connected=272, connect_failed=728, shown_rooms=100))
    assert report.harness_problems(partial) == ["rooms (all): 728 of 1000 tabs did not connect"]
    assert report.harness_problems(_results(_point(14.0, clients=1000, connected=1000))) == []
