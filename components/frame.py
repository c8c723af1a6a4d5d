"""The page frame: styles shared by every page and the full-height layout."""

from __future__ import annotations

from nicegui import ui

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
.sc-error { color: #b91c1c; }
.sc-retry { margin-left: .4rem; text-decoration: underline; color: #1d4ed8; }
.sc-composer { width: 100%; padding: .6rem 1rem; border-top: 1px solid #e5e7eb; }
.sc-composer .q-field__after { align-self: flex-start; }
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
.sc-mentions { position: absolute; bottom: 100%; left: 1rem; z-index: 20; list-style: none; margin: 0; padding: .2rem;
  background: white; border: 1px solid #cbd5e1; border-radius: .4rem; box-shadow: 0 6px 20px rgba(0,0,0,.15);
  min-width: 12rem; max-width: 20rem; font-size: .9rem; line-height: 1.3; color: #1e293b; }
.sc-mention { padding: .3rem .6rem; border-radius: .3rem; cursor: pointer; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; }
.sc-mention[aria-selected="true"], .sc-mention:hover { background: #dbeafe; }
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
