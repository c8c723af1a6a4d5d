"""The shard benchmark's subscribers count what reached them; a miscount would report loss that never happened."""

from __future__ import annotations

from bench.listeners import Tally, command

_FRAMES = [
    command("message", "sinchchat:room:lobby", 'v1.1764430000000.ab.{"type":"message","op":"add"}'),
    command("smessage", "sinchchat:room:lobby", 'v1.1764430000000.cd.{"text":"a message\\r\\n in JSON"}'),
]


def test_counts_every_frame_however_the_stream_is_cut() -> None:
    stream = b"".join(_FRAMES) * 3
    for size in range(1, 40):
        tally = Tally()
        for start in range(0, len(stream), size):
            tally.feed(stream[start : start + size])
        assert tally.frames == 6, f"pieces of {size} bytes"


def test_subscription_replies_are_not_messages() -> None:
    tally = Tally()
    tally.feed(b"*3\r\n$9\r\nsubscribe\r\n$4\r\nroom\r\n:1\r\n*3\r\n$10\r\nssubscribe\r\n$4\r\nroom\r\n:1\r\n")
    assert tally.frames == 0
