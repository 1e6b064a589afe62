"""Issue 15, point 2: no linkifier finds a scheme, ``//host`` or ``www.`` in event text, whatever
precedes it.

Real linkifiers from PyPI stand in for the clients: cmark-gfm with its autolink extension (GitHub
Flavored Markdown, what Webex-style markdown renderers do) and markdown-it with linkify-it (the
JavaScript family's linkifier, also used on plain text the way mail clients linkify a text part).
The corpus is prefixes × schemes × colon/slash/dot look-alikes, for each channel: Webex markdown,
Teams card markdown, the e-mail text part (and the e-mail HTML, whose only links must be ours).

Allowed: a bare e-mail address that GFM autolinks as ``mailto:`` (it carries no scheme in the text;
see docs/security.md). Nothing else becomes a link.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from html.parser import HTMLParser

import cmarkgfm
import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from linkify_it import LinkifyIt
from markdown_it import MarkdownIt

from shared.notify import render
from shared.notify.escape import card_md, clean, plain, webex_md
from tests.test_render_hostile import TRUSTED_URLS, hostile_view

PREFIXES = [
    "", " ", "x", "Z", "1", "_", "é", "中", "ß", "-", ".", "(", "[", "*", "~", "<", ">", '"', "'", "=", "/",
    "\u200b", "\u2060", "\u00a0", "\u3000", "\u0301", "／", "：",
]  # fmt: skip
COLONS = [":", "\uff1a", "\ufe55", "\ua789", "\u2236"]
SLASHES = ["/", "\uff0f", "\u2215", "\u2044", "\\"]
DOTS = [".", "\uff0e", "\u3002"]
TEMPLATES = [
    "http{c}{s}{s}evil.example/p?q=1",
    "HTTPS{c}{s}{s}evil.example",
    "https{c}{s}{s}user@evil.example:8443/x",
    "ftp{c}{s}{s}evil.example/f",
    "file{c}{s}{s}{s}etc/passwd",
    "javascript{c}alert(1)",
    "data{c}text{s}html,<b>x</b>",
    "mailto{c}evil@evil.example",
    "xmpp{c}evil@evil.example",
    "tel{c}+15555550100",
    "{s}{s}evil.example/protocol-relative",
]
WWW = ["www{d}evil.example", "WwW{d}evil.example/x"]


def _urls() -> Iterator[str]:
    seen: set[str] = set()
    for template in TEMPLATES:
        for c in COLONS if "{c}" in template else [""]:
            for s in SLASHES if "{s}" in template else [""]:
                seen.add(template.format(c=c, s=s))
    for template in WWW:
        for d in DOTS:
            seen.add(template.format(d=d))
    yield from sorted(seen)


URLS = list(_urls())
GFM_OPTIONS = cmarkgfm.cmark.Options.CMARK_OPT_UNSAFE  # the renderer at its most permissive
MDIT = MarkdownIt("commonmark", {"linkify": True}).enable("linkify")
LINKIFY = LinkifyIt()  # defaults: fuzzy links and e-mails, as a mail client's text linkifier
BARE_EMAIL = re.compile(r"[^\s:/\\]+@[^\s:/\\]+")


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href") or ""
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._text)))
            self._href = None


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_text(html: str) -> str:
    """The text nodes of an HTML document (entities decoded), one per line."""
    parser = _Text()
    parser.feed(html)
    return "\n".join(parser.parts)


def anchors(html: str) -> list[tuple[str, str]]:
    parser = _Anchors()
    parser.feed(html)
    return parser.links


def gfm(markdown: str) -> list[tuple[str, str]]:
    return anchors(cmarkgfm.github_flavored_markdown_to_html(markdown, options=GFM_OPTIONS))


def mdit(markdown: str) -> list[tuple[str, str]]:
    return anchors(MDIT.render(markdown))


def linkify(text: str) -> list[tuple[str, str]]:
    return [(m.url, m.text) for m in LINKIFY.match(text) or []]


def untrusted_links(found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Links that are neither ours nor a bare e-mail address (no scheme in the text)."""
    return [
        (href, text)
        for href, text in found
        if href not in TRUSTED_URLS and not (BARE_EMAIL.fullmatch(text) and href == f"mailto:{text}")
    ]


MARKDOWN_LINKIFIERS: list[Callable[[str], list[tuple[str, str]]]] = [gfm, mdit]
PLAIN_LINKIFIERS: list[Callable[[str], list[tuple[str, str]]]] = [linkify, gfm, mdit]


def test_the_corpus_is_live_without_defanging() -> None:
    """Guard against a corpus the linkifiers ignore: undefanged, its ASCII forms become links after
    any of these prefixes (the old escaping let "_https://", "1https://", "éhttps://" and "https：//"
    through as links; most look-alike forms are links only to a client that folds them to ASCII)."""
    live = {u for u in URLS for p in ("", "_", "é") if untrusted_links(gfm(p + u) + mdit(p + u) + linkify(p + u))}
    assert len(live) >= 15, sorted(live)
    for known in ("_https://evil.example", "éhttp://evil.example/p?q=1", "https：//evil.example"):
        assert untrusted_links(gfm(known) + mdit(known) + linkify(known)), known


def _visible(text: str) -> str:
    return text.replace("\u200b", "").replace("\u200d", "")


def _unmark(markdown: str) -> str:
    """What a reader sees: markdown escapes undone, zero-width characters gone."""
    return _visible(re.sub(r"\\(.)", r"\1", markdown))


@pytest.mark.parametrize("url", URLS)
def test_no_linkifier_finds_a_link_in_any_channel(url: str) -> None:
    items = [prefix + url for prefix in PREFIXES]
    channels = {
        "webex": ([webex_md(i) for i in items], MARKDOWN_LINKIFIERS, _unmark),
        "teams": ([card_md(i) for i in items], MARKDOWN_LINKIFIERS, _unmark),
        "email-text": ([plain(i) for i in items], PLAIN_LINKIFIERS, _visible),
    }
    for channel, (escaped, linkifiers, seen) in channels.items():
        for item, out in zip(items, escaped, strict=True):
            assert seen(out) == clean(item), f"{channel}: the text is still all there"
        document = "\n\n".join(escaped)  # one paragraph per item: each prefix really precedes
        for find in linkifiers:
            assert untrusted_links(find(document)) == [], (channel, find.__name__, url)


@pytest.mark.parametrize("template", [*TEMPLATES, *WWW])
def test_rendered_notices_carry_only_our_links(template: str) -> None:
    """End to end: every prefix of one URL shape in every field of a real notice, through the real
    renderers, then the linkifiers over what each channel receives."""
    url = template.format(c="：" if "javascript" in template else ":", s="/", d=".")
    text = " ".join(prefix + url for prefix in PREFIXES[:12])
    view = hostile_view(text)
    webex = render(view, "webex").text
    payload = render(view, "teams").payload or {}
    card_texts = [str(b.get("text", "")) for b in payload["attachments"][0]["content"]["body"]]
    card_texts += [
        f"{f['title']} {f['value']}" for b in payload["attachments"][0]["content"]["body"] for f in b.get("facts", [])
    ]
    email = render(view, "email")
    for find in MARKDOWN_LINKIFIERS:
        assert untrusted_links(find(webex)) == [], ("webex", find.__name__)
        for block in card_texts:
            assert untrusted_links(find(block)) == [], ("teams", find.__name__, block[:80])
    for find in PLAIN_LINKIFIERS:
        assert untrusted_links(find(email.text)) == [], ("email-text", find.__name__)
    assert {href for href, _ in anchors(email.html or "")} <= TRUSTED_URLS, "e-mail HTML: only our links"
    assert untrusted_links(linkify(html_text(email.html or ""))) == [], "e-mail HTML text, as a client linkifies it"
    shown = _unmark(" ".join(card_texts))
    assert clean(text)[:60] in shown, "the event text is shown (defanged), not dropped"


FRAGMENTS = [
    "http", "https", "HTTPS", "ftp", "mailto", "xmpp", "javascript", "www", "WWW", ":", "：", "/", "//", "／", ".",
    "evil.example", "evil.com", "x@evil.example", "@", "\\", "_", "é", "中", " ", "[", "]", "(", ")", "<", ">", "*",
    "~", "`", "!", "\u200b", "\u0301", "&", ";", "#", "%2F", "&#58;", "&colon;",
    "https://", "http：//", "www.", "mailto:", "//evil.example",
]  # fmt: skip
SCHEME_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*[:：]")
BARE_HOST = re.compile(r"^[\w\-]+(?:\.[\w\-]+)+(?:[/?#]\S*)?$")
"""A host name with no scheme, and whatever path, query or fragment follows it: the documented
residual (a client links ``evil.com/x`` whatever we do; docs/security.md) — linked to that host,
never to a scheme or a ``www.`` it shows. Hypothesis found ``www.GL`` and ``evil.com/https://x``
here, and later ``evil.com#www.http`` and ``evil.com#https://`` (a fragment: still that host)."""


@hsettings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=2), max_size=14).map("".join))
@example("www.GL")
@example("evil.com/https://x")
@example("evil.com//evil.example:")
@example("evil.com#www.http")
@example("evil.com#https://")
@example("evil.com?q=www.x")
def test_property_no_linkifier_finds_a_scheme_or_www(text: str) -> None:
    """Any mix of link fragments: whatever a linkifier still links shows no scheme, no ``//`` start and
    no ``www.`` (bare host names and e-mail addresses are the documented residual)."""
    for escape, linkifiers in (
        (webex_md, MARKDOWN_LINKIFIERS),
        (card_md, MARKDOWN_LINKIFIERS),
        (plain, PLAIN_LINKIFIERS),
    ):
        out = escape(text)
        for find in linkifiers:
            for href, shown in find(out):
                seen = _visible(shown)
                if BARE_HOST.match(seen):
                    continue  # the residual: a bare host (and its path), linked to that host
                assert not SCHEME_IN_TEXT.search(seen), (text, escape.__name__, find.__name__, href, shown)
                assert not seen.startswith("//") and "www." not in seen.lower(), (text, escape.__name__, href)
