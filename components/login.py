"""The login form: a user name and a Join button."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui

from chat.errors import ChatError


def login_form(*, on_join: Callable[[str], Awaitable[None]], notice: str | None = None) -> None:
    """Ask for a name; ``on_join`` raises ChatError to refuse it, and its message is shown under the input."""
    with ui.card().classes("m-auto w-80").mark("login"):
        ui.label("sinchchat").classes("text-2xl font-semibold")
        ui.label("Pick a name to join the conversation.").classes("text-slate-500")
        if notice:
            ui.label(notice).classes("text-amber-700").mark("login-notice")
        name = ui.input("User name").props("autofocus maxlength=64").classes("w-full").mark("name")

        async def join() -> None:
            button.disable()
            try:
                await on_join(name.value or "")
            except ChatError as exc:
                name.error = exc.message
            finally:
                if not button.is_deleted:  # on success the form is gone, replaced by the chat
                    button.enable()

        name.on("keydown.enter", join)
        name.on_value_change(lambda: setattr(name, "error", None) if name.error else None)
        button = ui.button("Join", on_click=join).classes("w-full").mark("join")
