"""Message text as safe HTML: a small Markdown subset for chat, rendered once per message version in each process.

Two independent layers. The parser (markdown-it-py) knows only the constructs a chat needs (emphasis, code, fenced
code, quotes, lists, links) and escapes everything else, raw HTML included; it turns into a link only an http,
https or mailto URL. Its output then passes an allow-list sanitizer (nh3) that would remove any tag, attribute or
URL scheme outside the list even if the parser let one through. HTML is never taken from the bus or the browser:
every process renders the stored text itself.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Sequence
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.normalize_url import normalizeLink
from markdown_it.renderer import RendererHTML
from markdown_it.rules_block import StateBlock
from markdown_it.rules_core import StateCore
from markdown_it.rules_inline import StateInline
from markdown_it.rules_inline import link as inline_link
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

from .confusables import is_default_ignorable
from .models import Message

TAGS = frozenset({"p", "br", "strong", "em", "code", "pre", "blockquote", "ul", "ol", "li", "a", "span"})
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer nofollow"

# quotes and lists nested deeper than this show the rest of their text as a plain paragraph: the parser's own limit
# (maxNesting) would silently drop it, and a deeper staircase of indents leaves no room on a phone
MAX_DEPTH = 8
# far above any sensible message length limit; text longer than this (which the service never stores, but a
# table edited by hand might hold) is shown escaped, without parsing, so that rendering stays cheap
PARSE_LIMIT = 20_000

_SAFE_URL = re.compile(r"(?:https?|mailto):", re.IGNORECASE)
# a bare URL becomes a link only when spelled as one: "main.py" or "README.md" in a chat is a file, not a site
_SPELLED_URL = re.compile(r"(?:https?://|mailto:|www\.)|[^@\s]+@", re.IGNORECASE)


# texts rendered lately, so a text read again (an API page, a room's history on another process's first tab) is not
# parsed again: at most this many, each at most a few times CHAT_MAX_MESSAGE_LENGTH characters with its HTML
RENDERED_TEXTS = 1024


@functools.lru_cache(maxsize=RENDERED_TEXTS)
def render(text: str) -> str:
    """The text as HTML holding only the allowed tags, attributes and URL schemes; "" for an empty text."""
    if not text.strip():
        return ""
    if len(text) > PARSE_LIMIT:
        return _plain(text)
    return _CLEANER.clean(_PARSER.render(text)).strip()


def payload(message: Message) -> dict[str, Any]:
    """The message as the browser and the API get it: its JSON and its text rendered as safe HTML."""
    data = message.to_json()
    data["html"] = render(message.text)
    return data


def _plain(text: str) -> str:
    return "<p>" + html.escape(text, quote=False).replace("\n", "<br>\n") + "</p>"


def _is_safe_url(url: str) -> bool:
    return _SAFE_URL.match(url) is not None


def _normalize_link(url: str) -> str:
    # a URL with a character drawn as nothing (a zero-width space, a bidi override) can look like another site's
    # address: it stays text ("" is no URL at all, so _is_safe_url refuses it)
    if any(is_default_ignorable(char) for char in url):
        return ""
    return normalizeLink(url)


def _too_deep(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
    """Below MAX_DEPTH levels of quotes and lists, the rest of the block is one paragraph of its own text."""
    if state.level < MAX_DEPTH:
        return False
    if silent:
        return True
    content = state.getLines(start_line, end_line, state.blkIndent, False).strip()
    state.line = end_line
    state.push("paragraph_open", "p", 1).map = [start_line, end_line]
    inline = state.push("inline", "", 0)
    inline.content = content
    inline.map = [start_line, end_line]
    inline.children = []
    state.push("paragraph_close", "p", -1)
    return True


def _link(state: StateInline, silent: bool) -> bool:
    # with reference definitions off, a link needs "](" after its "[": without one, every "[" of a long row of them
    # would scan ahead for a label in vain
    if state.src.find("](", state.pos) < 0:
        return False
    return inline_link(state, silent)


def _only_spelled_urls(state: StateCore) -> None:
    """Undo linkify's links whose text names no scheme, www. or mailbox (fuzzy domains such as "main.py")."""
    for block in state.tokens:
        children = block.children
        if block.type != "inline" or not children:
            continue
        kept: list[Token] = []
        index = 0
        while index < len(children):
            token = children[index]
            if token.type == "link_open" and token.markup == "linkify" and index + 2 < len(children):
                label = children[index + 1].content
                if _SPELLED_URL.match(label) is None:
                    plain = Token("text", "", 0)
                    plain.content = label
                    kept.append(plain)
                    index += 3  # link_open, its text, link_close
                    continue
            kept.append(token)
            index += 1
        block.children = kept


def _link_open(renderer: RendererHTML, tokens: Sequence[Token], index: int, options: OptionsDict, env: EnvType) -> str:
    tokens[index].attrSet("rel", LINK_REL)
    tokens[index].attrSet("target", "_blank")
    return renderer.renderToken(tokens, index, options, env)


def _parser() -> MarkdownIt:
    parser = MarkdownIt("commonmark", {"html": False, "linkify": True, "breaks": True, "maxNesting": 20})
    parser.enable("linkify")
    # no headings, rules, indented code, reference definitions (which hide their line), images or raw HTML
    parser.disable(["heading", "lheading", "hr", "code", "reference", "html_block", "html_inline", "image"])
    parser.block.ruler.before("fence", "too_deep", _too_deep)
    parser.inline.ruler.at("link", _link)
    parser.core.ruler.after("linkify", "only_spelled_urls", _only_spelled_urls)
    parser.normalizeLink = _normalize_link  # type: ignore[method-assign]
    parser.validateLink = _is_safe_url  # type: ignore[method-assign]
    parser.add_render_rule("link_open", _link_open)
    return parser


def _digits_only_start(tag: str, attribute: str, value: str) -> str | None:
    if tag == "ol" and attribute == "start":
        return value if value.isascii() and value.isdigit() else None
    return value


_PARSER = _parser()
_CLEANER = nh3.Cleaner(
    tags=set(TAGS),
    clean_content_tags={"script", "style"},
    # an ordered list keeps its first number ("3. c" stays 3), which can only be digits
    attributes={"a": {"href"}, "ol": {"start"}},
    attribute_filter=_digits_only_start,
    # the cleaner writes rel and target itself, whatever the link carried
    link_rel=LINK_REL,
    set_tag_attribute_values={"a": {"target": "_blank"}},
    url_schemes=set(URL_SCHEMES),
    url_relative="deny",
    strip_comments=True,
)
