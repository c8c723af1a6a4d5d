"""The composer: a message box and a Send button; Enter sends, Shift+Enter makes a new line."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

from nicegui import ui
from nicegui.events import GenericEventArguments

from chat.errors import ChatError
from chat.models import is_message_key

log = logging.getLogger(__name__)

# what the browser makes for each message: 128 random bits in base64url (see composer.js)
NONCE_PATTERN = re.compile(r"[A-Za-z0-9_-]{22}")

PLACEHOLDER = "Type a message"


class Composer(ui.element, component="composer.js"):
    """The box and its Send button as one element whose text lives in the browser.

    The browser reads and clears the box itself and emits ``send`` with ``{text, nonce}``: ``nonce`` is a fresh
    random id per message, so the server can tell a message sent again from a new one. ``on_send`` raises ChatError
    to refuse the text: the browser then puts it back (unless something new was typed) with the reason under it.
    """

    def __init__(
        self,
        *,
        room: str,
        max_length: int,
        on_send: Callable[[str, str], Awaitable[None]],
        on_edit: Callable[[str, str], Awaitable[None]] | None = None,
        on_typing: Callable[[], Awaitable[None]] | None = None,
        me: str = "",
    ) -> None:
        super().__init__()
        self._on_send = on_send
        self._on_edit = on_edit
        self._on_typing = on_typing
        self._props.update(
            room=room,  # a draft is kept per room
            me=me,  # the author_id the @ suggestions leave out
            placeholder=PLACEHOLDER,
            # the browser stops input at twice the limit, so a huge paste never becomes a huge websocket frame;
            # anything between the limit and that cap is refused with a message and given back to the box
            maxlength=max_length * 2,
            limit=max_length,  # the counter near it
        )
        self.on("send", self._handle_send)
        self.on("edit", self._handle_edit)
        # the browser sends one at most every 3 s while the person types; the server throttles whatever comes
        self.on("typing", self._handle_typing, args=[])
        self.mark("message", "send")  # the box and its button are one element

    async def _handle_send(self, event: GenericEventArguments) -> None:
        args = event.args
        text = args.get("text") if isinstance(args, dict) else None
        nonce = args.get("nonce") if isinstance(args, dict) else None
        if not isinstance(text, str) or not isinstance(nonce, str) or not NONCE_PATTERN.fullmatch(nonce):
            log.debug("dropped a malformed send event")  # only a hand-made client sends one: no log flood
            return
        if len(text) > self._props["maxlength"]:
            log.debug("dropped a send event longer than the box allows")  # not echoed back to its sender either
            return
        if not text.strip():
            return  # the browser sends no blank text; a client that does gets nothing either
        try:
            await self._on_send(text, nonce)
        except ChatError as exc:
            self.refuse(text, exc.message)

    async def _handle_edit(self, event: GenericEventArguments) -> None:
        """Edit mode saved ``{key, text}``: ``on_edit`` stores it, or raises ChatError to keep edit mode with why."""
        args = event.args
        key = args.get("key") if isinstance(args, dict) else None
        text = args.get("text") if isinstance(args, dict) else None
        if not isinstance(key, str) or not isinstance(text, str) or not is_message_key(key) or self._on_edit is None:
            log.debug("dropped a malformed edit event")  # only a hand-made client sends one: no log flood
            return
        try:
            await self._on_edit(key, text)
        except ChatError as exc:
            self.run_method("editRefused", key, exc.message)
            return
        self.run_method("editDone", key)

    async def _handle_typing(self, _event: GenericEventArguments) -> None:
        if self._on_typing is not None:
            await self._on_typing()  # no argument is read: a hand-made client's are ignored

    def refuse(self, text: str, error: str) -> None:
        """Give ``text`` back to the box if it is empty, and show ``error`` under it until the text changes."""
        self.run_method("refuse", text, error)
