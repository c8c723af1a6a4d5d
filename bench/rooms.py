"""The rooms point: what one message to a room costs the server when the process also holds the tabs of many other
rooms, against the same message when only that room's tabs are connected.

Both points run the product on a fresh server, with the same rooms made through ``POST /api/rooms`` (the second
point finds them made) and one history page in each: first only the ``per_room`` tabs of the first room connect,
then ``per_room`` tabs in each of ``rooms`` rooms (``/r/<room>``). The sender posts to the first room, and CPU per
message is measured as the fan-out phase measures it, over windows that hold whole rounds of the server's periodic
catch-up, and averaged over several window pairs with every room's tabs, whose idle CPU dwarfs one message's.
The ideal is a ratio of 1: the other rooms' tabs never see the message, so they should cost nothing for it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

from chat.rooms import room_id
from chat.storage import Dynamo, TableNames

from .fanout import FanoutConfig, RoomLayout, log, run_point
from .seed import messages, write

TARGET_RATIO = 1.5


def room_names(count: int) -> tuple[str, ...]:
    """The rooms' names: with a space, so the pages' addresses are percent-encoded as the product makes them."""
    return tuple(f"bench room {i:03d}" for i in range(count))


def ratio(result: dict[str, Any]) -> float | None:
    """CPU per message with every room's tabs over CPU per message with the one room's tabs alone."""
    alone, everyone = result.get("alone") or {}, result.get("all") or {}
    if alone.get("error") or everyone.get("error"):
        return None
    a, b = alone.get("cpu_ms_per_msg"), everyone.get("cpu_ms_per_msg")
    return b / a if a and b is not None else None


def run(
    db: Dynamo,
    tables: TableNames,
    config: FanoutConfig,
    *,
    rooms: int,
    per_room: int,
    page_size: int,
    profile_to: Path | None,
    busy_rate: float = 0.0,
) -> dict[str, Any]:
    """The room's tabs alone, then every room's; with ``profile_to``, the second point is profiled afterwards.

    With ``busy_rate``, both points again at that many messages a second (``busy``): the room list's frames are
    paced per second, not per message, so what they add to a message depends on how fast messages come.
    """
    names = room_names(rooms)
    # one history page in every room, as every tab of the fan-out phase starts with
    seconds = write(db, tables, [m for name in names for m in messages(room_id(name), page_size)])
    log(f"rooms: wrote {page_size} messages in each of {rooms} rooms in {seconds:.1f} s")
    result: dict[str, Any] = {"rooms": rooms, "per_room": per_room}
    result.update(_pair(names, config, per_room=per_room, profile_to=profile_to))
    if busy_rate:
        busy = dataclasses.replace(config, rate=busy_rate)
        result["busy"] = _pair(names, busy, per_room=per_room, profile_to=None)
    return result


def _pair(names: tuple[str, ...], config: FanoutConfig, *, per_room: int, profile_to: Path | None) -> dict[str, Any]:
    """At ``config.rate``: the first room's tabs alone, then every room's tabs, and the ratio of the two."""
    # the room's tabs alone idle at well under 1% of a core: one window pair measures them as closely as three
    alone_config = dataclasses.replace(config, cycles=1)
    alone = asyncio.run(run_point("product", per_room, alone_config, RoomLayout(names, per_room, 1)))
    everyone = asyncio.run(
        run_point(
            "product",
            len(names) * per_room,
            dataclasses.replace(config, profile_to=profile_to),
            RoomLayout(names, per_room, len(names)),
        )
    )
    pair: dict[str, Any] = {"rate": config.rate, "alone": alone, "all": everyone}
    pair["ratio"] = ratio(pair)
    if pair["ratio"] is not None:
        log(
            f"rooms: at {config.rate:g} msg/s, CPU per message {pair['ratio']:.2f}x with every room's tabs "
            f"(target ≤ {TARGET_RATIO}x)"
        )
    return pair


def points(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The measured rates, each with its two points and ratio: the sender's rate first, then the busier one."""
    first = {"rate": result.get("rate"), **{k: result.get(k) for k in ("alone", "all", "ratio")}}
    return [first, *([result["busy"]] if result.get("busy") else [])]
