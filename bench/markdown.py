"""Rendering cost of the message Markdown (chat/markdown.py): ordinary messages and the worst inputs found, each at
the default message length limit.

    uv run python -m bench.markdown                 # 50 renders per input
    uv run python -m bench.markdown --samples 5     # a quick look

A message is rendered once per process per version (components/broadcast.py), so this is a cost per message per
process, not per tab. Prints the CPU milliseconds of one render (median, p99, max) for each input: CPU time, not
wall time, so that other work on a shared machine counts less.
"""

from __future__ import annotations

import argparse
import time

from chat.markdown import render
from chat.settings import Settings

from .stats import summary


def inputs(length: int) -> dict[str, str]:
    """Named texts of at most ``length`` characters: the usual kinds of message, then nesting and linking bombs."""

    def fill(piece: str) -> str:
        return (piece * (length // len(piece) + 1))[:length]

    return {
        "short": "on my way, see **you** at `10:30`",
        "prose": fill("Some words with *emphasis*, a [link](https://example.com/page) and `code`. "),
        "code-block": "```\n" + fill("for item in items:  # a line of code\n")[: length - 8] + "\n```",
        "bare-urls": fill("https://example.com/a?b=1 "),
        "stars": "*" * length,
        "underscores": "_" * length,
        "brackets": "[" * length,
        "quotes": ">" * length,
        "spaced-quotes": fill("> "),
        "lists": fill("- "),
        "nested-emphasis": "*" * (length // 2 - 1) + "a" + "*" * (length // 2),
        "brackets-and-links": fill("[a](http://x.example)["),
        "backticks": fill("` "),
        "unclosed-links": fill("[a]("),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.markdown", description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=50, help="renders per input (default %(default)s)")
    parser.add_argument("--length", type=int, default=Settings.max_message_length, help="characters per input")
    args = parser.parse_args(argv)
    print(f"{'input':<20} {'chars':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, text in inputs(args.length).items():
        render(text)  # warm up
        times = []
        for _ in range(args.samples):
            started = time.process_time()
            render(text)
            times.append((time.process_time() - started) * 1000)
        stats = summary(times)
        print(f"{name:<20} {len(text):>6} {stats['p50']:>8.2f} {stats['p99']:>8.2f} {stats['max']:>8.2f}")


if __name__ == "__main__":
    main()
