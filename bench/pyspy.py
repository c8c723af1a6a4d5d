"""py-spy's raw output (``--format raw``): one collapsed stack per line, frames joined by ";", then a space and the
number of samples."""

from __future__ import annotations

from collections.abc import Iterator


def stacks(raw: str) -> Iterator[tuple[list[str], int]]:
    """Each sampled stack (outermost frame first) and how many samples it got."""
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            yield stack.split(";"), int(count)
