"""Who has a room open and who is typing in it, as one process knows it: ephemeral, never stored in DynamoDB.

This process's people are counted by tab (a person with three tabs open leaves with the last one); the other
processes' people arrive by origin (a process id), each list with the time it stops counting unless heard again, so
a process that dies takes its people with it. Typists last a few seconds after their last typing event. Times are
the caller's clock (seconds); nothing here reads a clock, runs a task or touches Redis.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .settings import TYPING_THROTTLE_SECONDS

Person = tuple[str, str]  # (author_id, name)


@dataclass
class _Room:
    here: dict[str, tuple[str, int]] = field(default_factory=dict)  # author_id -> (name, tabs open here)
    elsewhere: dict[str, tuple[dict[str, str], float]] = field(default_factory=dict)  # origin -> (people, until)
    typists: dict[str, tuple[str, float]] = field(default_factory=dict)  # author_id -> (name, until)


def by_name(people: dict[str, str]) -> list[Person]:
    """People as a list sorted by name (then id, so the order is stable)."""
    return sorted(people.items(), key=lambda p: (p[1].casefold(), p[0]))


class Presence:
    """The registry: rooms -> people here, people elsewhere by origin, typists."""

    def __init__(self) -> None:
        self._rooms: dict[str, _Room] = {}

    def _room(self, room: str) -> _Room:
        found = self._rooms.get(room)
        if found is None:
            found = self._rooms[room] = _Room()
        return found

    # -- this process's tabs ---------------------------------------------------------------------------
    def join(self, room: str, author_id: str, name: str) -> bool:
        """A tab here shows ``room``; whether this process's list of the room changed (the person's first tab)."""
        here = self._room(room).here
        current = here.get(author_id)
        here[author_id] = (name, 1 if current is None else current[1] + 1)
        return current is None

    def leave(self, room: str, author_id: str) -> bool:
        """A tab here no longer shows ``room``; whether this process's list changed (the person's last tab)."""
        state = self._rooms.get(room)
        current = None if state is None else state.here.get(author_id)
        if state is None or current is None:
            return False
        if current[1] > 1:
            state.here[author_id] = (current[0], current[1] - 1)
            return False
        del state.here[author_id]
        self._drop_if_empty(room)
        return True

    def clear_here(self, room: str) -> None:
        """Nobody here shows ``room`` any more, however many tabs were counted (the process stops)."""
        state = self._rooms.get(room)
        if state is not None:
            state.here.clear()
            self._drop_if_empty(room)

    def here(self, room: str) -> list[Person]:
        """This process's people in ``room``, by name."""
        state = self._rooms.get(room)
        return [] if state is None else by_name({a: n for a, (n, _) in state.here.items()})

    def tabs(self, room: str, author_id: str) -> int:
        state = self._rooms.get(room)
        entry = None if state is None else state.here.get(author_id)
        return 0 if entry is None else entry[1]

    # -- the other processes ---------------------------------------------------------------------------
    def set_elsewhere(self, room: str, origin: str, people: list[Person], until: float) -> None:
        """Process ``origin``'s full list of ``room``, counted until ``until`` unless it is heard again."""
        state = self._room(room)
        if people:
            state.elsewhere[origin] = (dict(people), until)
        else:
            state.elsewhere.pop(origin, None)
            self._drop_if_empty(room)

    def forget(self, room: str) -> None:
        """This process stops hearing ``room``: what it knew of the others there is stale from now on."""
        state = self._rooms.get(room)
        if state is not None:
            state.elsewhere.clear()
            state.typists.clear()
            self._drop_if_empty(room)

    # -- everybody -------------------------------------------------------------------------------------
    def people(self, room: str, now: float) -> dict[str, str]:
        """Everybody in ``room``: author_id -> name, once each however many tabs and processes."""
        state = self._rooms.get(room)
        if state is None:
            return {}
        merged: dict[str, str] = {}
        for people, until in state.elsewhere.values():
            if until > now:
                merged.update(people)
        merged.update((a, n) for a, (n, _) in state.here.items())  # this process's name wins
        return merged

    def expire(self, now: float) -> tuple[set[str], set[str]]:
        """Drop the lists of processes not heard from in time and the typists who stopped; the rooms whose people
        changed, and those whose typists changed."""
        people_changed: set[str] = set()
        typing_changed: set[str] = set()
        for room, state in list(self._rooms.items()):
            gone = [origin for origin, (_, until) in state.elsewhere.items() if until <= now]
            if gone:
                before = self.people(room, -float("inf"))
                for origin in gone:
                    del state.elsewhere[origin]
                if self.people(room, now) != before:
                    people_changed.add(room)
            stopped = [a for a, (_, until) in state.typists.items() if until <= now]
            for author_id in stopped:
                del state.typists[author_id]
            if stopped:
                typing_changed.add(room)
            self._drop_if_empty(room)
        return people_changed, typing_changed

    # -- typing ----------------------------------------------------------------------------------------
    def typing(self, room: str, author_id: str, name: str, until: float) -> None:
        """``author_id`` is typing in ``room``: shown until ``until``."""
        self._room(room).typists[author_id] = (name, until)

    def stopped_typing(self, room: str, author_ids: set[str]) -> bool:
        """These authors' messages arrived: they are not typing any more; whether anyone was."""
        state = self._rooms.get(room)
        if state is None:
            return False
        gone = [a for a in author_ids if state.typists.pop(a, None) is not None]
        self._drop_if_empty(room)
        return bool(gone)

    def typists(self, room: str, now: float) -> list[tuple[str, str, float]]:
        """Who is typing in ``room``: (author_id, name, until), by name."""
        state = self._rooms.get(room)
        if state is None:
            return []
        live = [(a, n, until) for a, (n, until) in state.typists.items() if until > now]
        return sorted(live, key=lambda t: (t[1].casefold(), t[0]))

    @property
    def rooms(self) -> frozenset[str]:
        return frozenset(self._rooms)

    def rooms_here(self) -> list[str]:
        """The rooms where this process has someone."""
        return [room for room, state in self._rooms.items() if state.here]

    def _drop_if_empty(self, room: str) -> None:
        state = self._rooms.get(room)
        if state is not None and not (state.here or state.elsewhere or state.typists):
            del self._rooms[room]


class TypingThrottle:
    """At most one typing event per author per room per ``interval`` seconds."""

    def __init__(self, interval: float = TYPING_THROTTLE_SECONDS) -> None:
        self._interval = interval
        self._last: dict[tuple[str, str], float] = {}

    def allow(self, room: str, author_id: str, now: float) -> bool:
        key = (room, author_id)
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            return False
        self._last[key] = now
        if len(self._last) > 10_000:  # bounded: forget whoever has not typed for an interval
            self._last = {k: t for k, t in self._last.items() if now - t < self._interval}
        return True
