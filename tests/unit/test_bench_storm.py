"""The restart storm's arithmetic: when a tab reconnects, and what counts as back, lost and shown twice."""

from __future__ import annotations

from typing import Any

from bench.storm import met, tally
from bench.tab import reconnect_delay


def test_reconnect_delays_follow_socket_io_clients_back_off() -> None:
    # Backoff.duration(): 1 s doubling up to 5 s, moved by up to half of it, earlier or later by the random's digit
    assert [reconnect_delay(attempt, 0.0) for attempt in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert reconnect_delay(0, 0.25) == 0.875  # floor(2.5) is even: earlier by 0.25 * 0.5 * 1000 ms
    assert reconnect_delay(0, 0.99) == 1.495  # floor(9.9) is odd: later by 495 ms


def _tab(route: str, seen: dict[int, float], **story: Any) -> dict[str, Any]:
    tab = {"route": route, "seen": seen, "keys": {n: ["k"] for n in seen}, "reloads": [], "drops": []}
    return {**tab, "drop_reasons": [], "failure": "", **story}


def test_a_tab_is_back_when_it_joined_after_the_kill_and_complete_with_what_was_posted_before_that() -> None:
    killed = 100.0
    posts = {0: 95.0, 1: 101.0, 2: 110.0}  # sent at
    orphan = _tab("dead", {0: 96.0, 1: 104.5, 2: 110.1}, reloads=[(90.0, 90.1), (104.0, 104.5)], drops=[100.1])
    stayed = _tab("alive", {0: 96.0, 1: 101.1, 2: 110.1}, reloads=[(90.0, 90.1)])
    result = tally([orphan, stayed], ok=posts, orphans={"dead"}, killed=killed)
    assert result["back"] == result["orphaned"] == result["complete_tabs"] == 1
    assert result["stayed"] == result["survivor_tabs"] == 1
    assert result["page_s"]["max"] == 4.0
    assert result["back_s"]["max"] == 4.5
    assert result["complete_s"]["max"] == 4.5  # message 2 came after it was back: live, not catch-up
    assert result["lost"] == result["duplicated"] == 0
    assert met(result)


def test_a_message_never_had_is_lost_and_one_with_two_keys_was_shown_twice() -> None:
    posts = {0: 95.0, 1: 101.0}
    twice = _tab("alive", {0: 96.0, 1: 101.1})
    twice["keys"][1] = ["k1", "k1 again"]  # stored twice: a retry that was not recognised as one
    never = _tab("dead", {0: 96.0}, reloads=[(104.0, 104.5)])
    result = tally([twice, never], ok=posts, orphans={"dead"}, killed=100.0)
    assert result["lost"] == 1
    assert result["duplicated"] == 1
    assert result["tabs_lacking"] == {"orphaned": 1}
    assert result["complete_tabs"] == 0
    assert met(result) is False


def test_an_orphan_that_never_reloaded_is_not_back() -> None:
    result = tally([_tab("dead", {0: 96.0}, drops=[100.1])], ok={0: 95.0}, orphans={"dead"}, killed=100.0)
    assert (result["orphaned"], result["back"]) == (1, 0)
    assert met(result) is False
