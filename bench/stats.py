"""Percentiles the way latency reports state them: nearest rank, no interpolation."""

from __future__ import annotations

import math


def percentile(ordered: list[float], fraction: float) -> float:
    """The value at ``fraction`` (0..1) of an ascending list (nearest rank)."""
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def summary(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50": None, "p99": None, "max": None}
    ordered = sorted(values)
    return {"n": len(ordered), "p50": percentile(ordered, 0.5), "p99": percentile(ordered, 0.99), "max": ordered[-1]}
