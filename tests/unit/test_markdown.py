"""The Markdown subset of messages (chat/markdown.py): what each construct renders, and hostile text rendered inert.

Every output is read back by tests/safe_html.py, an HTML parser independent of the renderer and of its sanitizer:
nothing outside the allow-list of tags, attributes and URL schemes, and the text the person typed still visible.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chat import markdown
from chat.markdown import MAX_DEPTH, PARSE_LIMIT, payload, render
from chat.models import Message
from tests.safe_html import read_safe

LINK = 'target="_blank" rel="noopener noreferrer nofollow"'

# (id, text, the exact HTML)
CONSTRUCTS: list[tuple[str, str, str]] = [
    ("bold", "**bold**", "<p><strong>bold</strong></p>"),
    ("italic-star", "*it*", "<p><em>it</em></p>"),
    ("italic-underscore", "_it_", "<p><em>it</em></p>"),
    ("snake_case-stays", "snake_case_name", "<p>snake_case_name</p>"),
    ("inline-code", "run `ls -la` now", "<p>run <code>ls -la</code> now</p>"),
    ("code-keeps-markup", "`**x** <b>`", "<p><code>**x** &lt;b&gt;</code></p>"),
    ("fence", "```\na <b>\n  b\n```", "<pre><code>a &lt;b&gt;\n  b\n</code></pre>"),
    ("fence-language-dropped", "```py\nx = 1\n```", "<pre><code>x = 1\n</code></pre>"),
    ("quote", "> said", "<blockquote>\n<p>said</p>\n</blockquote>"),
    ("dash-list", "- a\n- b", "<ul>\n<li>a</li>\n<li>b</li>\n</ul>"),
    ("star-list", "* a\n* b", "<ul>\n<li>a</li>\n<li>b</li>\n</ul>"),
    ("numbered-list", "1. a\n2. b", "<ol>\n<li>a</li>\n<li>b</li>\n</ol>"),
    ("numbered-list-from-3", "3. c\n4. d", '<ol start="3">\n<li>c</li>\n<li>d</li>\n</ol>'),
    (
        "link",
        "[site](https://example.com/a?b=1&c=2)",
        f'<p><a href="https://example.com/a?b=1&amp;c=2" {LINK}>site</a></p>',
    ),
    ("mailto-link", "[mail](mailto:ana@example.com)", f'<p><a href="mailto:ana@example.com" {LINK}>mail</a></p>'),
    (
        "bare-url",
        "see https://example.com/x.",
        f'<p>see <a href="https://example.com/x" {LINK}>https://example.com/x</a>.</p>',
    ),
    ("bare-www", "www.example.com", f'<p><a href="http://www.example.com" {LINK}>www.example.com</a></p>'),
    ("bare-email", "ana@example.com", f'<p><a href="mailto:ana@example.com" {LINK}>ana@example.com</a></p>'),
    ("file-name-stays-text", "see main.py and README.md", "<p>see main.py and README.md</p>"),
    ("single-newline-breaks", "one\ntwo", "<p>one<br>\ntwo</p>"),
    ("blank-line-paragraphs", "one\n\ntwo", "<p>one</p>\n<p>two</p>"),
    ("mention-stays-text", "@Ana look", "<p>@Ana look</p>"),
    ("heading-stays-text", "# not a heading", "<p># not a heading</p>"),
    ("rule-stays-text", "a\n---", "<p>a<br>\n---</p>"),
    ("indent-stays-text", "    not code", "<p>not code</p>"),
    ("reference-stays-visible", "[a]: https://x.org", f'<p>[a]: <a href="https://x.org" {LINK}>https://x.org</a></p>'),
    ("entity", "fish &amp; chips", "<p>fish &amp; chips</p>"),
    ("relative-link-stays-text", "[x](/admin)", "<p>[x](/admin)</p>"),
    ("empty", "", ""),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CONSTRUCTS], ids=[c[0] for c in CONSTRUCTS])
def test_each_construct_renders_as_expected(text: str, expected: str) -> None:
    html = render(text)
    assert html == expected
    read_safe(html)


# (id, text, what must still be visible)
HOSTILE: list[tuple[str, str, str]] = [
    ("javascript-link", "[x](javascript:alert(1))", "[x](javascript:alert(1))"),
    ("javascript-mixed-case", "[x](JaVaScRiPt:alert(1))", "[x](JaVaScRiPt:alert(1))"),
    ("javascript-entity", "[x](java&#115;cript:alert(1))", "[x](javascript:alert(1))"),
    ("javascript-tab", "[x](java\tscript:alert(1))", "[x](java\tscript:alert(1))"),
    ("javascript-autolink", "<javascript:alert(1)>", "<javascript:alert(1)>"),
    ("data-url", "[x](data:text/html;base64,PHNjcmlwdD4=)", "[x](data:text/html;base64,PHNjcmlwdD4=)"),
    ("vbscript-url", "[x](vbscript:msgbox(1))", "[x](vbscript:msgbox(1))"),
    ("file-url", "[x](file:///etc/passwd)", "[x](file:///etc/passwd)"),
    ("protocol-relative", "[x](//evil.example)", "[x](//evil.example)"),
    ("script", "<script>alert('x')</script>", "<script>alert('x')</script>"),
    ("img-onerror", "<img src=x onerror=alert(1)>", "<img src=x onerror=alert(1)>"),
    ("raw-anchor", '<a href="javascript:alert(1)">x</a>', '<a href="javascript:alert(1)">x</a>'),
    ("style", "<style>body{display:none}</style>", "<style>body{display:none}</style>"),
    ("event-handler", '<p onclick="alert(1)">x</p>', '<p onclick="alert(1)">x</p>'),
    ("svg-onload", '"><svg/onload=alert(1)>', '"><svg/onload=alert(1)>'),
    ("html-comment", "<!-- x --> y", "<!-- x --> y"),
    ("image", "![img](http://x/y.png)", "!img"),
    ("image-javascript", "![x](javascript:alert(1))", "![x](javascript:alert(1))"),
    ("quote-breaks-href", '[x](http://a.example/" onmouseover="alert(1))', "[x](http://a.example/"),
    ("quote-breaks-href-angle", '[x](<http://a.example/" onclick="alert(1)>)', "x"),
    ("quote-in-bare-url", 'http://a.example/"onmouseover=alert(1)//', 'http://a.example/"onmouseover=alert(1)//'),
    ("single-quote-url", "[x](http://a.example/'onfocus='alert(1))", "x"),
    ("bidi-override-in-url", "http://exa\u202eelpmam.com", "http://exa\u202eelpmam.com"),
    ("zero-width-in-url", "https://exa\u200bmple.com", "https://exa\u200bmple.com"),
    ("zero-width-in-link", "[example.com](https://exa\u200bmple.com)", "[example.com](https://exa\u200bmple.com)"),
    ("bidi-in-link-text", "[abc\u202edef](https://x.example)", "abc\u202edef"),
    ("unterminated-fence", "```\nnever closed <b>", "never closed <b>"),
    ("unterminated-code-span", "`never closed", "`never closed"),
    ("long-link-text", "[" + "a" * 2000 + "](https://x.example)", "a" * 2000),
    ("vue-template", "{{ constructor.constructor('alert(1)')() }}", "{{ constructor.constructor('alert(1)')() }}"),
]


@pytest.mark.parametrize(("text", "visible"), [c[1:] for c in HOSTILE], ids=[c[0] for c in HOSTILE])
def test_hostile_text_renders_inert_and_visible(text: str, visible: str) -> None:
    rendered = read_safe(render(text))
    assert visible in rendered.text


def test_only_http_https_and_mailto_become_links() -> None:
    rendered = read_safe(render("[a](https://a.example) [b](http://b.example) [c](mailto:c@example.com) [d](ftp://d)"))
    assert [link["href"] for link in rendered.links] == [
        "https://a.example",
        "http://b.example",
        "mailto:c@example.com",
    ]
    assert "[d](ftp://d)" in rendered.text


def test_a_quote_in_a_url_stays_inside_the_attribute() -> None:
    rendered = read_safe(render('[x](http://a.example/" onmouseover="alert(1))'))
    assert rendered.links == [] or all(set(link) <= {"href", "rel", "target"} for link in rendered.links)
    rendered = read_safe(render('[x](<http://a.example/" onclick="alert(1)>)'))
    assert rendered.links[0]["href"] == "http://a.example/%22%20onclick=%22alert(1)"


# (id, text, the character, how many must stay visible)
BOMBS: list[tuple[str, str, str, int]] = [
    ("stars", "*" * 2000, "*", 2000),
    ("underscores", "_" * 2000, "_", 2000),
    ("brackets", "[" * 2000, "[", 2000),
    ("bangs-and-brackets", "![" * 1000, "[", 1000),
    ("quotes", ">" * 2000, ">", 2000 - MAX_DEPTH),
    ("spaced-quotes", "> " * 1000 + "deep", ">", 1000 - MAX_DEPTH),
    ("lists", "- " * 1000 + "deep", "-", 1000 - MAX_DEPTH),
    ("nested-emphasis", "*" * 1000 + "a" + "*" * 1000, "a", 1),
    ("alternating-emphasis", "*a _" * 500, "a", 500),
    ("nested-links", "[" * 600 + "a" + "](http://x.example)" * 100, "[", 500),
    ("backticks", "` " * 1000, "`", 0),
]


@pytest.mark.parametrize(("text", "char", "visible"), [b[1:] for b in BOMBS], ids=[b[0] for b in BOMBS])
def test_nesting_bombs_render_safely_and_keep_their_text(text: str, char: str, visible: int) -> None:
    rendered = read_safe(render(text))
    assert rendered.text.count(char) >= visible
    if text.endswith("deep"):
        assert "deep" in rendered.text  # the parser's own nesting limit would drop it


def test_a_text_beyond_the_parse_limit_is_shown_escaped_without_markdown() -> None:
    text = "**not bold** <b>\n" * (PARSE_LIMIT // 17 + 1)
    html = render(text)
    assert "<strong>" not in html
    assert read_safe(html).text.replace("\n", "") == text.replace("\n", "").strip()


def test_the_payload_adds_the_html_to_the_message_json_and_the_json_itself_carries_none() -> None:
    message = Message(
        room="lobby",
        key="2026-03-01T12:00:00.000Z#00000000000000aa",
        author="Ana",
        author_id="a1",
        text="**hi** <b>",
        nonce="n0nce-123",
    )
    assert "html" not in message.to_json()  # the bus carries text only: every process renders for itself
    assert payload(message) == {**message.to_json(), "html": "<p><strong>hi</strong> &lt;b&gt;</p>"}


def test_a_text_of_only_spaces_renders_as_nothing() -> None:
    assert render("") == render(" \n\t ") == ""  # what a deleted message carries


def test_the_sanitizer_alone_removes_what_the_parser_might_let_through() -> None:
    hostile = (
        '<p onclick="x"><img src=x onerror=alert(1)><a href="javascript:alert(1)" style="x">j</a>'
        '<a href="/relative">r</a><a href="https://ok.example" rel="opener" target="_self">ok</a>'
        "<script>alert(1)</script><style>p{}</style><h1>h</h1><!-- c --></p>"
        '<ol start="1 onclick=x" reversed type="a"><li>l</li></ol><ol start="2"></ol>'
    )
    rendered = read_safe(markdown._CLEANER.clean(hostile))
    assert [link.get("href") for link in rendered.links] == [None, None, "https://ok.example"]
    assert rendered.text == "jrokhl"
    assert '<ol start="2">' in markdown._CLEANER.clean(hostile)


# markdown's own characters, HTML's, URL pieces and the odd Unicode, so random texts hit the parser's corners
_ALPHABET = st.sampled_from(
    [
        *"*_`[]()<>!#&;:/\\\"' \n\t-=.1>~|",
        "http://",
        "https://x.example/",
        "javascript:",
        "mailto:",
        "www.",
        "```",
        "&#115;",
        "&lt;",
        "<a href=",
        "<img ",
        "onerror=",
        "\u202e",
        "\u200b",
        "é",
        "😀",
        "a",
        "b",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_ALPHABET, max_size=300).map("".join))
def test_any_text_renders_to_only_allowed_tags_attributes_and_schemes(text: str) -> None:
    read_safe(render(text))
