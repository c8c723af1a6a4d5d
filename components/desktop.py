"""The desktop window (``--native``): whether it can open, asked before the server starts.

NiceGUI opens the window in a spawned process; when that process fails (no display, a library Qt needs is missing)
NiceGUI only prints Qt's complaint and ends the server with exit code 0, as if the window had been closed. So the
same steps run first in a short-lived probe, and a failure stops the app with the reason and a non-zero exit.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Mapping

INSTALL_HINT = "uv sync --extra native"
PROBE_TIMEOUT_SECONDS = 30.0

# what the window process needs before it shows a page: the web engine (its import loads the shared libraries it
# links, and must come before the application object) and Qt's platform plugin, which connects to the display
_PROBE = """
import sys
from PyQt6 import QtWebEngineWidgets
from PyQt6.QtWidgets import QApplication
QApplication(sys.argv)
"""


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # a parent package is missing
        return False


def window_problem(env: Mapping[str, str] | None = None) -> str | None:
    """Why the native window cannot open here, as a sentence for the person starting the app; None if it can."""
    env = os.environ if env is None else env
    if not (_installed("webview") and _installed("PyQt6.QtWebEngineWidgets")):
        return f"--native needs the native extra (pywebview with Qt), which is not installed: {INSTALL_HINT}"
    try:
        probe = subprocess.run(  # noqa: S603 (this interpreter and a fixed script)
            [sys.executable, "-c", _PROBE],
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"the native window did not open: the window system gave no answer within {PROBE_TIMEOUT_SECONDS:g} s."
    if probe.returncode == 0:
        return None
    if sys.platform.startswith("linux") and not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
        return (
            "the native window cannot open: there is no display (neither DISPLAY nor WAYLAND_DISPLAY is set). "
            "Start it from a desktop session, or without --native and open the page in a browser."
        )
    lines = [line.strip() for line in probe.stderr.splitlines() if line.strip()]
    # Qt names the cause in its own log lines ("qt.qpa.xcb: could not connect to display :1"); else the last words
    reason = [line for line in lines if line.startswith("qt.")] or lines[-6:] or [f"exit code {probe.returncode}"]
    return "the native window cannot open; Qt says:\n  " + "\n  ".join(reason)
