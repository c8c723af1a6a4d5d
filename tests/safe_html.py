"""What rendered message HTML may hold, checked by an HTML parser independent of the renderer and its sanitizer:
the allowed tags; on links only href (http, https, mailto), rel and target; on ordered lists only a numeric start."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

ALLOWED_TAGS = frozenset({"p", "br", "strong", "em", "code", "pre", "blockquote", "ul", "ol", "li", "a", "span"})
ALLOWED_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_ATTRIBUTES = frozenset({"href", "rel", "target"})


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.text: list[str] = []
        self.links: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"tag <{tag}>")
        names = {name for name, _ in attrs}
        allowed = LINK_ATTRIBUTES if tag == "a" else frozenset({"start"}) if tag == "ol" else frozenset()
        if names - allowed:
            self.problems.append(f"attributes {sorted(names - allowed)} on <{tag}>")
        start = dict(attrs).get("start") if tag == "ol" else None
        if start is not None and not (start.isascii() and start.isdigit()):
            self.problems.append(f"ol start {start!r}")
        if tag == "a":
            link = dict(attrs)
            self.links.append(link)
            href = link.get("href")
            if href is not None and urlsplit(href).scheme.lower() not in ALLOWED_SCHEMES:
                self.problems.append(f"href {href!r}")
            if link.get("rel") != "noopener noreferrer nofollow" or link.get("target") != "_blank":
                self.problems.append(f"link rel/target {link!r}")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_comment(self, data: str) -> None:
        self.problems.append("a comment")

    def handle_decl(self, decl: str) -> None:
        self.problems.append("a declaration")

    def handle_pi(self, data: str) -> None:
        self.problems.append("a processing instruction")


class Rendered:
    """The parts of a rendered message: its visible text and its links (attributes by name)."""

    def __init__(self, text: str, links: list[dict[str, str | None]]) -> None:
        self.text = text
        self.links = links


def read_safe(html: str) -> Rendered:
    """The visible text and links of ``html``; AssertionError naming anything outside the allow-list."""
    reader = _Reader()
    reader.feed(html)
    reader.close()
    assert not reader.problems, f"{reader.problems} in {html[:300]!r}"
    return Rendered("".join(reader.text), reader.links)
