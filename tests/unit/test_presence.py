"""The presence registry: people counted by tab, other processes' lists merged until they expire, typists."""

from __future__ import annotations

from chat.presence import Presence, TypingThrottle


def test_a_person_is_listed_once_however_many_tabs_and_leaves_with_the_last() -> None:
    presence = Presence()
    assert presence.join("lobby", "a1", "Ana") is True
    assert presence.join("lobby", "a1", "Ana") is False  # a second tab changes nothing anyone sees
    assert presence.here("lobby") == [("a1", "Ana")]
    assert presence.leave("lobby", "a1") is False
    assert presence.people("lobby", now=0) == {"a1": "Ana"}
    assert presence.leave("lobby", "a1") is True
    assert presence.people("lobby", now=0) == {}
    assert presence.leave("lobby", "a1") is False  # a tab counted nowhere takes nobody off
    assert presence.rooms == frozenset()


def test_the_list_merges_this_process_and_the_others_once_each() -> None:
    presence = Presence()
    presence.join("lobby", "a1", "Ana")
    presence.set_elsewhere("lobby", "p2", [("b1", "Bo"), ("a1", "Ana")], until=100)
    presence.set_elsewhere("lobby", "p3", [("c1", "Cy")], until=100)
    presence.set_elsewhere("kitchen", "p3", [("d1", "Di")], until=100)
    assert presence.people("lobby", now=50) == {"a1": "Ana", "b1": "Bo", "c1": "Cy"}
    presence.set_elsewhere("lobby", "p3", [], until=100)  # p3's last tab of the lobby closed
    assert presence.people("lobby", now=50) == {"a1": "Ana", "b1": "Bo"}
    assert presence.people("kitchen", now=50) == {"d1": "Di"}


def test_a_process_not_heard_from_in_time_drops_off() -> None:
    presence = Presence()
    presence.join("lobby", "a1", "Ana")
    presence.set_elsewhere("lobby", "dead", [("b1", "Bo")], until=10)
    presence.set_elsewhere("lobby", "alive", [("c1", "Cy")], until=30)
    assert presence.people("lobby", now=11) == {"a1": "Ana", "c1": "Cy"}  # ignored past its time at once
    assert presence.expire(now=9) == (set(), set())
    assert presence.expire(now=11) == ({"lobby"}, set())
    assert presence.people("lobby", now=0) == {"a1": "Ana", "c1": "Cy"}  # and dropped
    # a dead process whose people are here anyway changes nothing anyone sees
    presence.set_elsewhere("lobby", "dead2", [("a1", "Ana")], until=20)
    assert presence.expire(now=21) == (set(), set())


def test_forgetting_a_room_keeps_this_process_s_own_people() -> None:
    presence = Presence()
    presence.join("lobby", "a1", "Ana")
    presence.set_elsewhere("lobby", "p2", [("b1", "Bo")], until=100)
    presence.typing("lobby", "b1", "Bo", until=100)
    presence.forget("lobby")
    assert presence.people("lobby", now=0) == {"a1": "Ana"}
    assert presence.typists("lobby", now=0) == []


def test_typists_last_until_their_time_or_their_message() -> None:
    presence = Presence()
    presence.typing("lobby", "b1", "Bo", until=5)
    presence.typing("lobby", "a1", "Ana", until=6)
    assert presence.typists("lobby", now=1) == [("a1", "Ana", 6), ("b1", "Bo", 5)]
    assert presence.stopped_typing("lobby", {"a1", "zz"}) is True  # Ana's message arrived
    assert presence.stopped_typing("lobby", {"a1"}) is False
    assert presence.typists("lobby", now=1) == [("b1", "Bo", 5)]
    assert presence.typists("lobby", now=5) == []
    assert presence.expire(now=5) == (set(), {"lobby"})
    assert presence.rooms == frozenset()


def test_the_throttle_lets_one_typing_event_through_per_author_and_room_per_interval() -> None:
    throttle = TypingThrottle(interval=2.5)
    assert throttle.allow("lobby", "a1", now=0) is True
    assert throttle.allow("lobby", "a1", now=2.4) is False
    assert throttle.allow("kitchen", "a1", now=2.4) is True  # another room
    assert throttle.allow("lobby", "b1", now=2.4) is True  # another author
    assert throttle.allow("lobby", "a1", now=2.5) is True
    assert throttle.allow("lobby", "a1", now=3.0) is False  # counted from the last one let through
