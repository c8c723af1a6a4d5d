"""What tests and benchmarks alike need around real processes: a free port, a wait for a condition, a clean stop.

bench/ imports these too, so that a fix here (a race on a port, a child left running) reaches every caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from typing import Any


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:``port``."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


async def wait_for(check: Callable[[], object], *, timeout: float, interval: float = 0.05) -> bool:
    """Poll ``check`` until it is true, letting the event loop run meanwhile; whether it became true in time."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(interval)
    return True


def wait_until(check: Callable[[], object], *, timeout: float, interval: float = 0.1, what: str = "condition") -> None:
    """``wait_for`` for code without an event loop (Playwright's sync API, a child's start-up): blocks, and raises
    AssertionError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def stop_process(
    process: subprocess.Popen[Any], first: signal.Signals = signal.SIGTERM, *, grace: float = 10.0
) -> signal.Signals | None:
    """End a child started here and reap it: ``first``, then SIGTERM after ``grace`` seconds, then SIGKILL after 5.

    A paused child is woken first, or it would sit on the signal until the KILL. Returns the signal it ended on
    (None if it had ended already).
    """
    if process.poll() is not None:
        return None
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGCONT)
    steps = [(first, grace)] + ([(signal.SIGTERM, 5.0)] if first != signal.SIGTERM else [])
    for sig, wait in steps:
        process.send_signal(sig)
        try:
            process.wait(wait)
        except subprocess.TimeoutExpired:
            continue
        return sig
    process.kill()
    process.wait(10)
    return signal.SIGKILL
