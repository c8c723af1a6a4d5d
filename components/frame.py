"""The page frame: styles shared by every page and the full-height layout."""

from __future__ import annotations

import hashlib

from fastapi.responses import Response
from nicegui import app, ui

CSS = """
.nicegui-content { padding: 0; height: 100dvh; }
.sc-root { height: 100dvh; width: 100%; max-width: 56rem; margin: 0 auto; gap: 0; }
.sc-bar { width: 100%; padding: .6rem 1rem; border-bottom: 1px solid #e5e7eb; min-width: 0; }
.sc-panel { flex: 1 1 auto; min-height: 0; width: 100%; display: flex; flex-direction: column; }
/* a chat: the room list on the left, the room's bar, messages and composer on the right */
.sc-root.sc-chat { display: grid; align-items: stretch; max-width: 72rem; grid-template-columns: 15rem minmax(0, 1fr);
  grid-template-rows: auto minmax(0, 1fr) auto; }
.sc-chat .sc-panel { display: contents; }
.sc-chat .sc-rooms { grid-column: 1; grid-row: 1 / 4; }
.sc-chat .sc-bar { grid-column: 2; grid-row: 1; }
.sc-chat .sc-list { grid-column: 2; grid-row: 2; }
.sc-chat .sc-composer { grid-column: 2; grid-row: 3; }
.sc-rooms { display: flex; flex-direction: column; gap: .1rem; padding: .6rem .5rem; border-right: 1px solid #e5e7eb;
  overflow-y: auto; min-height: 0; background: #f8fafc; }
.sc-rooms-head { font-size: .75rem; text-transform: uppercase; letter-spacing: .05em; color: #64748b;
  padding: .3rem .5rem; }
.sc-room { display: flex; justify-content: space-between; align-items: center; gap: .5rem; padding: .35rem .5rem;
  border-radius: .4rem; color: #334155; text-decoration: none; }
.sc-room:hover { background: #e2e8f0; }
.sc-room[aria-current="page"] { background: #dbeafe; font-weight: 600; color: #1e3a8a; }
.sc-room-name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; unicode-bidi: isolate; }
.sc-unread { background: #2563eb; color: white; border-radius: 999px; font-size: .7rem; font-weight: 600;
  padding: 0 .45rem; line-height: 1.2rem; min-width: 1.2rem; text-align: center; }
.sc-new-room, .sc-create, .sc-cancel { text-align: left; padding: .35rem .5rem; border-radius: .4rem; color: #1d4ed8; }
.sc-new-room:hover { background: #e2e8f0; }
.sc-room-form { display: flex; flex-direction: column; gap: .4rem; padding: .4rem .5rem; }
.sc-room-label { display: flex; flex-direction: column; gap: .2rem; font-size: .8rem; color: #475569; }
.sc-room-input { border: 1px solid #cbd5e1; border-radius: .4rem; padding: .3rem .5rem; font-size: .95rem; }
.sc-create { background: #2563eb; color: white; }
.sc-title { min-width: 0; }
.sc-room-title { margin: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; unicode-bidi: isolate; }
.sc-menu { display: none; align-items: center; gap: .3rem; padding: .2rem .4rem; border-radius: .4rem; }
/* a narrow screen: the room list folds into a menu under the bar */
@media (max-width: 640px) {
  .sc-root.sc-chat { grid-template-columns: minmax(0, 1fr); }
  .sc-chat .sc-bar, .sc-chat .sc-list, .sc-chat .sc-composer { grid-column: 1; }
  .sc-chat .sc-rooms { display: none; }
  .sc-chat .sc-menu-open .sc-rooms { display: flex; position: fixed; z-index: 10; top: 3.2rem; left: 0;
    bottom: 0; width: min(18rem, 85vw); box-shadow: 0 10px 30px rgba(0,0,0,.2); }
  .sc-menu { display: inline-flex; }
  .sc-brand { display: none; }
}
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
/* a message's Markdown (chat/markdown.py): line breaks are <br>, so the source's own newlines are layout only;
   colours are shades of the text's own, so the rules read on light and dark bubbles alike */
.sc-md { white-space: normal; --sc-md-shade: rgba(127, 127, 127, .16); --sc-md-rule: rgba(127, 127, 127, .55); }
.sc-md p, .sc-md ul, .sc-md ol, .sc-md blockquote, .sc-md pre { margin: 0; }
.sc-md > * + *, .sc-md li > * + *, .sc-md blockquote > * + * { margin-top: .35em; }
.sc-md ul, .sc-md ol { padding-left: 1.3em; }
.sc-md ul { list-style: disc; }
.sc-md ol { list-style: decimal; }
.sc-md blockquote { border-left: 3px solid var(--sc-md-rule); padding-left: .6em; }
.sc-md code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9em;
  background: var(--sc-md-shade); border-radius: .25rem; padding: 0 .25em; white-space: pre-wrap; }
/* a long line of code scrolls inside its block instead of widening the bubble */
.sc-md pre { max-width: 100%; overflow-x: auto; background: var(--sc-md-shade); border-radius: .4rem;
  padding: .4em .6em; }
.sc-md pre code { background: none; padding: 0; white-space: pre; overflow-wrap: normal; }
.sc-md a { color: inherit; text-decoration: underline; text-underline-offset: 2px; unicode-bidi: isolate; }
.sc-md a:hover { text-decoration-thickness: 2px; }
.sc-error { color: #b91c1c; }
.sc-retry { margin-left: .4rem; text-decoration: underline; color: #1d4ed8; }
.sc-composer { width: 100%; padding: .6rem 1rem; border-top: 1px solid #e5e7eb; }
.sc-composer .q-field__after { align-self: flex-start; }
/* reading: day separators, grouped messages, mentions, the new messages button, the box's growth */
.sc-sr { position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden;
  clip: rect(0, 0, 0, 0); white-space: nowrap; border: 0; }
/* a heading, so that a screen reader can move from day to day */
.sc-day { align-self: stretch; display: flex; align-items: center; gap: .75rem; margin: .4rem 0; font-size: .75rem;
  line-height: 1.25rem; letter-spacing: normal; font-weight: 600; color: #64748b; }
.sc-day::before, .sc-day::after { content: ""; flex: 1; border-top: 1px solid #e5e7eb; }
.sc-msg.sc-cont { margin-top: -.25rem; }
.sc-msg.sc-mention { border-left: 4px solid #d97706; background: #fef3c7; }
.sc-jump { grid-column: 2; grid-row: 2; align-self: end; justify-self: center; z-index: 5; margin-bottom: .75rem;
  padding: .3rem .9rem; border-radius: 999px; background: #2563eb; color: white; font-size: .85rem;
  font-weight: 600; box-shadow: 0 4px 12px rgba(0,0,0,.2); }
@media (max-width: 640px) { .sc-jump { grid-column: 1; } }
.sc-dark { padding: .2rem .45rem; border-radius: .4rem; font-size: 1.1rem; line-height: 1; }
.sc-dark:hover, .sc-menu:hover { background: #e2e8f0; }
.sc-notify { margin-top: auto; text-align: left; padding: .35rem .5rem; border-radius: .4rem; color: #1d4ed8; }
.sc-notify:hover { background: #e2e8f0; }
.sc-notify-off { margin-top: auto; padding: .35rem .5rem; font-size: .8rem; color: #64748b; }
/* the box grows with its text up to 40% of the screen, then scrolls */
.sc-composer textarea { max-height: 40vh; max-height: 40dvh; overflow-y: auto !important; }
/* dark: Quasar's body--dark, set from the system's preference or the reader's choice */
.body--dark .sc-bar, .body--dark .sc-composer, .body--dark .sc-rooms { border-color: #334155; }
.body--dark .sc-rooms { background: #0f172a; }
.body--dark .sc-rooms-head, .body--dark .sc-day, .body--dark .sc-meta, .body--dark .sc-notify-off { color: #94a3b8; }
.body--dark .sc-day::before, .body--dark .sc-day::after { border-color: #334155; }
.body--dark .sc-room, .body--dark .sc-author, .body--dark .sc-room-label { color: #e2e8f0; }
.body--dark .sc-room:hover, .body--dark .sc-new-room:hover, .body--dark .sc-notify:hover, .body--dark .sc-dark:hover,
.body--dark .sc-menu:hover { background: #1e293b; }
.body--dark .sc-room[aria-current="page"] { background: #1e3a8a; color: #dbeafe; }
.body--dark .sc-new-room, .body--dark .sc-cancel, .body--dark .sc-notify, .body--dark .sc-retry { color: #93c5fd; }
.body--dark .sc-room-input { background: #1e293b; color: #f1f5f9; border-color: #475569; }
.body--dark .sc-msg { background: #1e293b; }
.body--dark .sc-msg.sc-own { background: #1e3a8a; }
.body--dark .sc-msg.sc-failed { background: #7f1d1d; }
.body--dark .sc-msg.sc-mention { background: #451a03; border-left-color: #f59e0b; }
.body--dark .sc-error { color: #fca5a5; }
.body--dark .text-slate-400, .body--dark .text-slate-500, .body--dark .text-slate-600 { color: #cbd5e1; }
.body--dark .text-amber-700 { color: #fcd34d; }
/* edits, deletes and reactions */
.sc-editing { color: #1d4ed8; padding-bottom: .3rem; }
.sc-edit-cancel { text-decoration: underline; }
.sc-edited { font-style: italic; }
.sc-deleted { font-style: italic; color: #64748b; }
.sc-actions { position: relative; margin-left: auto; }
.sc-actions-btn { padding: 0 .35rem; border-radius: .3rem; color: #475569; }
.sc-actions-btn:hover, .sc-add-reaction:hover { background: #e2e8f0; }
.sc-menu-list { position: absolute; right: 0; top: 1.3rem; z-index: 5; display: flex; flex-direction: column;
  background: white; border: 1px solid #cbd5e1; border-radius: .4rem; box-shadow: 0 4px 12px rgba(0,0,0,.12);
  min-width: 8rem; }
.sc-menu-list button { text-align: left; padding: .3rem .6rem; white-space: nowrap; }
.sc-menu-list button:hover { background: #f1f5f9; }
.sc-danger { color: #b91c1c; font-weight: 600; }
.sc-reactions { display: flex; flex-wrap: wrap; gap: .25rem; margin-top: .2rem; align-items: center; }
.sc-reaction { border: 1px solid #cbd5e1; border-radius: 999px; padding: 0 .45rem; font-size: .8rem;
  background: white; }
.sc-reaction.sc-mine { border-color: #2563eb; background: #dbeafe; color: #1e3a8a; font-weight: 600; }
.sc-add-reaction { border-radius: 999px; padding: 0 .4rem; font-size: .8rem; color: #64748b; }
.sc-palette { display: inline-flex; gap: .1rem; background: white; border: 1px solid #cbd5e1; border-radius: 999px;
  padding: 0 .3rem; }
.sc-pick { padding: 0 .2rem; font-size: 1rem; }
.body--dark .sc-menu-list, .body--dark .sc-palette, .body--dark .sc-reaction { background: #1e293b;
  border-color: #475569; color: #e2e8f0; }
.body--dark .sc-menu-list button:hover, .body--dark .sc-actions-btn:hover, .body--dark .sc-add-reaction:hover {
  background: #334155; }
.body--dark .sc-reaction.sc-mine { background: #1e3a8a; border-color: #60a5fa; color: #dbeafe; }
.body--dark .sc-actions-btn, .body--dark .sc-add-reaction, .body--dark .sc-deleted { color: #cbd5e1; }
.body--dark .sc-editing { color: #93c5fd; }
.body--dark .sc-danger { color: #fca5a5; }
/* who is here (in the room list column) and who types (under the messages) */
.sc-online-head { margin-top: .8rem; }
.sc-online { list-style: none; margin: 0; padding: 0 .5rem; display: flex; flex-direction: column; gap: .1rem; }
.sc-person { font-size: .85rem; color: #334155; overflow: hidden; text-overflow: ellipsis; white-space: nowrap;
  unicode-bidi: isolate; }
.sc-person::before { content: ""; display: inline-block; width: .45rem; height: .45rem; border-radius: 50%;
  background: #22c55e; margin-right: .4rem; vertical-align: middle; }
.sc-person.sc-more::before { display: none; }
.sc-person.sc-more { color: #64748b; }
.sc-typing { position: sticky; bottom: -.5rem; min-height: 1.3rem; font-size: .8rem; color: #64748b;
  font-style: italic; background: inherit; flex-shrink: 0; }
.sc-composer { position: relative; }
.sc-suggestions { position: absolute; bottom: 100%; left: 1rem; z-index: 20; list-style: none; margin: 0;
  padding: .2rem; background: white; border: 1px solid #cbd5e1; border-radius: .4rem;
  box-shadow: 0 6px 20px rgba(0,0,0,.15); min-width: 12rem; max-width: 20rem; font-size: .9rem; line-height: 1.3;
  color: #1e293b; }
.sc-suggestion { padding: .3rem .6rem; border-radius: .3rem; cursor: pointer; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; }
.sc-suggestion[aria-selected="true"], .sc-suggestion:hover { background: #dbeafe; }
.body--dark .sc-person { color: #e2e8f0; }
.body--dark .sc-typing, .body--dark .sc-person.sc-more { color: #94a3b8; }
.body--dark .sc-suggestions { background: #1e293b; border-color: #475569; color: #e2e8f0; }
.body--dark .sc-suggestion[aria-selected="true"], .body--dark .sc-suggestion:hover { background: #1e3a8a; }
"""

# the reader's dark mode choice (chat_panel.js stores it) over the system's, on every page, the login form's too;
# after the page's own scripts, which set Quasar's dark mode to follow the system
DARK_CHOICE = """<script>
document.addEventListener("DOMContentLoaded", () => {
  let choice = null;
  try { choice = localStorage.getItem("sinchchat:dark"); } catch {}
  if (choice === "dark" || choice === "light") Quasar.Dark.set(choice === "dark");
});
</script>"""


# the page's language, for screen readers and the browser's spelling and hyphenation: plain "en", which NiceGUI's
# language setting cannot say (it names Quasar's language packs, such as "en-US"); set in <head>, before any rendering
HTML_LANG = '<script>document.documentElement.lang = "en";</script>'


# the styles as a file named by its content: a browser fetches it once and keeps it, instead of every page carrying
# (and the server compressing) them inline
STYLE_PATH = f"/_sinchchat/style-{hashlib.sha256(CSS.encode()).hexdigest()[:16]}.css"


def install_styles() -> None:
    """Serve the styles and link them from every page; set every page's language and dark mode choice."""

    @app.get(STYLE_PATH, include_in_schema=False)
    def styles() -> Response:
        return Response(CSS, media_type="text/css", headers={"Cache-Control": "public, max-age=31536000, immutable"})

    ui.add_head_html(HTML_LANG + f'<link rel="stylesheet" href="{STYLE_PATH}">', shared=True)
    ui.add_body_html(DARK_CHOICE, shared=True)


def frame(title: str = "sinchchat") -> ui.element:
    """The page's own content column, full height in the middle of the page; the page's parts go inside.

    No wrapper element of its own: every element of a page costs server memory for as long as the tab is open.
    """
    ui.page_title(title)
    return ui.context.client.content.classes("sc-root")


def notice(heading: str, detail: str, *, link: str, href: str) -> ui.card:
    """A card in the middle of the page: what happened, what to do about it, and a link that does it."""
    with ui.card().classes("m-auto w-80") as card:
        ui.label(heading).classes("text-lg font-semibold")
        ui.label(detail).classes("text-slate-500")
        ui.link(link, href)
    return card
