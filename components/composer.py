"""The composer: a message box and a Send button; Enter sends, Shift+Enter makes a new line."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui

from chat.errors import ChatError


def composer(*, max_length: int, on_send: Callable[[str], Awaitable[None]]) -> ui.textarea:
    """``on_send`` raises ChatError to refuse the text: the reason shows under the box and the text stays."""
    # the browser stops input at twice the limit, so a huge paste never becomes a huge websocket frame;
    # anything between the limit and that cap is refused with a message and stays in the box
    box = (
        ui.textarea(placeholder="Type a message")
        .props(f"autogrow outlined dense maxlength={max_length * 2} rows=1")
        .classes("sc-composer")
        .mark("message")
    )
    with box.add_slot("after"):  # the button sits in the field's own slot: no row element per tab
        button = ui.button("Send").mark("send")

    async def submit() -> None:
        text = box.value or ""
        if not text.strip():
            return
        try:
            await on_send(text)
        except ChatError as exc:
            box.error = exc.message
            return
        box.error = None
        box.value = ""

    box.on("keydown.enter.exact.prevent", submit)
    button.on_click(submit)
    box.on_value_change(lambda: setattr(box, "error", None) if box.error else None)
    return box
