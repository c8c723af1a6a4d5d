"""Driving the native window's web view over the Chrome DevTools Protocol.

QtWebEngine opens a DevTools endpoint when ``QTWEBENGINE_REMOTE_DEBUGGING`` names a port. Playwright's
``connect_over_cdp`` needs browser-context management that QtWebEngine does not offer, so the tests speak the protocol
itself: evaluate an expression in the page, type text and press keys as the window's user does.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from types import TracebackType
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

# what Input.dispatchKeyEvent needs for the keys the tests press
_KEYS = {
    "Enter": {"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "text": "\r"},
    "Escape": {"key": "Escape", "code": "Escape", "windowsVirtualKeyCode": 27},
    "ArrowUp": {"key": "ArrowUp", "code": "ArrowUp", "windowsVirtualKeyCode": 38},
}


class PageDriver:
    """One page of a DevTools endpoint (the first whose URL starts with ``url``)."""

    def __init__(self, endpoint: str, url: str, *, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        socket_url = None
        while socket_url is None:
            try:
                pages = httpx.get(f"{endpoint}/json/list", timeout=2).json()
                socket_url = next((p["webSocketDebuggerUrl"] for p in pages if p.get("url", "").startswith(url)), None)
            except httpx.TransportError:
                pass
            if socket_url is None:
                if time.monotonic() > deadline:
                    raise AssertionError(f"no page at {url} behind {endpoint} after {timeout:g} s")
                time.sleep(0.3)
        self._resources = contextlib.ExitStack()
        self._socket: ClientConnection = self._resources.enter_context(connect(socket_url, max_size=None))
        self._ids = itertools.count(1)

    def __enter__(self) -> PageDriver:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._resources.close()

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self._ids)
        self._socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            answer = json.loads(self._socket.recv(timeout=30))
            if answer.get("id") != ident:
                continue  # an event of a domain the tests did not enable, or a late answer
            if "error" in answer:
                raise AssertionError(f"{method} failed: {answer['error']}")
            result: dict[str, Any] = answer["result"]
            return result

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises are awaited)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression!r} threw: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def wait_for(self, expression: str, *, timeout: float = 15.0, what: str | None = None) -> Any:
        """Poll ``expression`` until it is truthy; its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:g} s waiting for {what or expression}")
            time.sleep(0.1)

    def type(self, text: str) -> None:
        """Insert ``text`` where the focus is, as an input method does."""
        self.call("Input.insertText", text=text)

    def press(self, key: str) -> None:
        keys = _KEYS[key]
        self.call("Input.dispatchKeyEvent", type="keyDown", **keys)
        self.call("Input.dispatchKeyEvent", type="keyUp", **{k: v for k, v in keys.items() if k != "text"})

    def click(self, selector: str) -> None:
        """Click the first element matching the CSS ``selector`` (it must exist)."""
        assert self._on_element(selector, "click"), f"nothing matches {selector}"

    def focus(self, selector: str) -> None:
        assert self._on_element(selector, "focus"), f"nothing matches {selector}"

    def _on_element(self, selector: str, method: str) -> bool:
        found = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e?.{method}(); return !!e; }})()"
        )
        return bool(found)
