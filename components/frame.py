"""The page frame: styles shared by every page and the full-height layout."""

from __future__ import annotations

from nicegui import ui

CSS = """
.nicegui-content { padding: 0; height: 100dvh; }
.sc-root { height: 100dvh; width: 100%; max-width: 56rem; margin: 0 auto; gap: 0; }
.sc-bar { width: 100%; padding: .6rem 1rem; border-bottom: 1px solid #e5e7eb; }
.sc-panel { flex: 1 1 auto; min-height: 0; width: 100%; display: flex; flex-direction: column; }
.sc-list { flex: 1 1 auto; overflow-y: auto; padding: .5rem 1rem; display: flex; flex-direction: column; gap: .4rem; }
.sc-top { min-height: 3rem; display: flex; align-items: center; justify-content: center; flex-shrink: 0; }
/* a short conversation sits at the bottom, next to the composer; a long one scrolls as before */
.sc-top { margin-top: auto; }
.sc-msg { max-width: 75%; align-self: flex-start; background: #f1f5f9; border-radius: .75rem; padding: .4rem .7rem; }
.sc-msg.sc-own { align-self: flex-end; background: #dbeafe; }
.sc-msg.sc-pending { opacity: .6; }
.sc-msg.sc-failed { background: #fee2e2; }
.sc-meta { font-size: .75rem; color: #64748b; display: flex; gap: .5rem; align-items: baseline; }
.sc-author { font-weight: 600; color: #334155; }
.sc-text { white-space: pre-wrap; overflow-wrap: anywhere; unicode-bidi: isolate; }
.sc-error { color: #b91c1c; }
.sc-retry { margin-left: .4rem; text-decoration: underline; color: #1d4ed8; }
.sc-composer { width: 100%; padding: .6rem 1rem; border-top: 1px solid #e5e7eb; }
.sc-composer .q-field__after { align-self: flex-start; }
"""


def install_styles() -> None:
    """Add the styles once for every page."""
    ui.add_css(CSS, shared=True)


def frame(title: str = "sinchchat") -> ui.element:
    """The page's own content column, full height in the middle of the page; the page's parts go inside.

    No wrapper element of its own: every element of a page costs server memory for as long as the tab is open.
    """
    ui.page_title(title)
    return ui.context.client.content.classes("sc-root")
