"""The per-format escaping filters, and the template safety net."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from jinja2 import DictLoader
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml

from shared.notify.escape import ZWJ, ZWSP, Safe, cap_utf8, card_md, clean, clip, defang, plain, subject_line, webex_md
from shared.notify.render import duration, environment, trusted_url


def test_clean_drops_controls_and_bidi_and_collapses() -> None:
    assert clean("a\x00b\x01c\u202ed\u2066e\ufeff\u200bf") == "abcdef"
    assert clean("  one\r\ntwo\tthree\u2028four ") == "one two three four"
    assert clean("\ud800x") == "x"
    assert clean(None) == ""


def test_clip() -> None:
    assert clip("abcdef", 4) == "abc…"
    assert clip("abc", 3) == "abc"
    assert clip("abc", 0) == ""


def test_defang_breaks_links_and_mentions() -> None:
    out = defang("see http://evil.com and HTTPS://x www.evil.com mail @all @All @alice")
    assert "http://" not in out and "HTTPS://" not in out and "www." not in out
    assert f"http{ZWSP}:/{ZWSP}/evil.com" in out
    glued = defang("_https://a 1http://b éftp://c x_www.d ｗ https：／／e //f javascript:g Note: h")
    assert "://" not in glued and "www." not in glued and "//" not in glued and "：／／" not in glued
    assert f"_https{ZWSP}:/{ZWSP}/a" in glued and f"x_www{ZWSP}.d" in glued and f"javascript{ZWSP}:g" in glued
    assert "Note: h" in glued, "a colon before a space is left alone"
    assert defang("at 2023-05-21 22:40 UTC") == "at 2023-05-21 22:40 UTC", "no scheme starts with a digit"
    assert f"@{ZWJ}all" in out and f"@{ZWJ}All" in out and "@alice" in out


def test_webex_md_escapes_only_what_starts_markup() -> None:
    """Inside a line only these start markup once "[" and "<" are escaped; the rest stays as typed."""
    out = webex_md("\\ ` * ~ [ ] < _x_ &amp; &#58;")
    assert out == "\\\\ \\` \\* \\~ \\[ \\] \\< \\_x\\_ \\&amp; \\&#58;"
    assert isinstance(out, Safe)
    assert webex_md("Ops (EMEA) #2! a|b {x} 1.5 AT&T 50% +1 -2 =3") == "Ops (EMEA) #2! a|b {x} 1.5 AT&T 50% +1 -2 =3"
    assert webex_md("first_last@contoso.com") == "first_last@contoso.com", "an intraword _ is inert"
    assert webex_md("_private_ snake__case x_") == "\\_private\\_ snake\\_\\_case x\\_"
    assert webex_md("[x](http://evil)") == f"\\[x\\](http{ZWSP}:/{ZWSP}/evil)"
    mentions = webex_md("<@all> <@personId:abc|Boss>")
    assert mentions == f"\\<@{ZWJ}all> \\<@personId{ZWSP}:abc|Boss>"


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("# Heading", "\\# Heading"),
        ("###### six", "\\###### six"),
        ("#hashtag", "#hashtag"),
        ("> quoted", "\\> quoted"),
        (">quoted", "\\>quoted"),
        ("- item", "\\- item"),
        ("+ item", "\\+ item"),
        ("-1 below zero", "-1 below zero"),
        ("12. item", "12\\. item"),
        ("3) item", "3\\) item"),
        ("1.5 GB", "1.5 GB"),
        ("mid # text > here - x 1. y", "mid # text > here - x 1. y"),
    ],
)
def test_block_markers_are_escaped_only_at_the_start(text: str, escaped: str) -> None:
    """A fact value is a paragraph of its own on a card: a leading heading, quote or list marker
    would turn it into a block; the same characters inside the text are left alone."""
    assert webex_md(text) == escaped
    assert card_md(text) == escaped


def test_card_md_breaks_link_syntax_even_without_escape_support() -> None:
    out = card_md("[x](http://evil)")
    assert out == f"\\[x\\]{ZWSP}(http{ZWSP}:/{ZWSP}/evil)"
    assert "](" not in out.replace("\\", "")
    assert '"' in card_md('"}]}')  # JSON is the serializer's job, not markdown's


def test_card_md_escapes_rather_than_deletes() -> None:
    """Issue 16 point 7: the Teams escape deleting "_ ( #" survived every test. Each character the
    text had is still there (escaped or as typed), nothing more, nothing less."""
    assert card_md("a_ b (c) #d _e_ *f* `g` ~h~") == "a\\_ b (c) #d \\_e\\_ \\*f\\* \\`g\\` \\~h\\~"
    assert card_md("Müller_Ünal (中文) #1") == "Müller\\_Ünal (中文) #1"


def test_clean_keeps_every_visible_character() -> None:
    """Issue 16 point 7: clean() dropping non-ASCII survived every test."""
    assert clean("Müller") == "Müller"
    assert clean("李小龍 山田太郎") == "李小龍 山田太郎"
    assert clean("😀 party 🎉") == "😀 party 🎉"
    assert clean("Zoë Ørsted-Ångström ß") == "Zoë Ørsted-Ångström ß"
    assert clean("נועם مرحبا") == "נועם مرحبا"
    assert clean("Ana\u200b María\u202e") == "Ana María", "format characters go, letters stay"
    assert clean("José\u00a0Núñez") == "José Núñez", "Unicode spaces collapse to one space"


def test_subject_line() -> None:
    s = subject_line("a\r\nBcc: evil@x\x00" + "z" * 500)
    assert "\n" not in s and "\r" not in s and len(s) == 200


def test_cap_utf8_boundaries() -> None:
    text = "é" * 10
    assert cap_utf8(text, 9) == "ééé…"  # 6 bytes of text + 3 bytes of "…"
    assert cap_utf8("ok", 10) == "ok"
    assert cap_utf8("ok", 2) == "ok", "exactly at the cap: unchanged"
    escaped = "ab\\" + "x" * 20
    assert cap_utf8(escaped, 6) == "ab…", "a half escape is not left before the mark"
    assert cap_utf8("ab\\\\" + "x" * 20, 7) == "ab\\\\…", "a whole escape is kept"


def test_cap_utf8_keeps_the_head_of_a_long_text() -> None:
    """Issue 16 point 7: cap_utf8 returning only "…" (an empty Webex notice) survived."""
    assert cap_utf8("abcdefghij", 7) == "abcd…"
    assert cap_utf8("Webex directory sync is broken. " * 400, 40) == "Webex directory sync is broken. Webex…"
    assert cap_utf8("😀" * 10, 12) == "😀😀…"  # 8 bytes of emoji + 3, never half a character
    assert cap_utf8("abc", 2) == "ab", "no room for the mark: the head alone, still within the cap"
    assert cap_utf8("éé", 2) == "é"


@given(st.text(max_size=500), st.integers(min_value=4, max_value=600))
def test_cap_utf8_property(text: str, limit: int) -> None:
    text = clean(text)
    assert len(cap_utf8(text, limit).encode("utf-8")) <= limit


@given(st.text(max_size=300))
def test_plain_is_one_line_without_controls(text: str) -> None:
    out = plain(text)
    assert "\n" not in out and "\r" not in out
    assert all(ord(c) >= 32 for c in out)


def test_trusted_url_filter_refuses_event_text() -> None:
    assert trusted_url("https://admin.webex.com/settings") == "https://admin.webex.com/settings"
    for bad in ("http://evil", "https://x/a b", "https://x/)(javascript:", "javascript:alert(1)", 'https://x/"'):
        with pytest.raises(ValueError, match="trusted"):
            trusted_url(bad)


def test_finalize_escapes_even_when_a_template_forgets_the_filter() -> None:
    env = environment().overlay(
        loader=DictLoader({"t.md.j2": "{{ x }}|{{ u | url }}", "t.html.j2": "<p>{{ x }}</p>", "t.txt.j2": "{{ x }}"})
    )
    x = "<b>[x](http://evil)</b>\n@all"
    md = env.get_template("t.md.j2").render(x=x, u="https://admin.webex.com/settings")
    assert md == webex_md(x) + "|https://admin.webex.com/settings"
    html = env.get_template("t.html.j2").render(x=x)
    assert "<b>" not in html and "&lt;b&gt;" in html
    assert env.get_template("t.txt.j2").render(x=x) == plain(x)


@pytest.mark.parametrize(
    ("seconds", "text"), [(5, "5 s"), (65, "1 min 05 s"), (3720, "1 h 02 min"), (90000, "1 d 1 h 00 min")]
)
def test_duration(seconds: int, text: str) -> None:
    from datetime import timedelta

    assert duration(timedelta(seconds=seconds)) == text


_COMMONMARK = MarkdownIt("commonmark").enable("strikethrough")
_MARKUP_TEXT = st.text(alphabet=st.sampled_from(list("\\`*_~[]()<>&#;!|{}-+=.:/ 1aZé中\t\n")), max_size=60)


@hsettings(max_examples=400, deadline=None)
@given(text=_MARKUP_TEXT | st.text(max_size=80))
def test_escaped_event_text_renders_as_exactly_its_text(text: str) -> None:
    """Minimal is still enough: whatever the event text, a CommonMark renderer (markdown-it, with
    GFM strikethrough) shows it as one plain paragraph holding exactly that text — no emphasis,
    code, link, heading, list, quote, rule or entity — and for both Webex and Teams."""
    visible = defang(clean(text))
    for escaped in (webex_md(text), card_md(text)):
        html = _COMMONMARK.render(escaped).replace(ZWSP, "")  # defang's zero-width spaces are invisible
        if not visible:
            assert html == ""
            continue
        assert html == f"<p>{escapeHtml(visible.replace(ZWSP, ''))}</p>\n", escaped


@pytest.mark.parametrize("text", ["---", "- - -", "***", "___", "--- x", "===", "```", "~~~", "    code", "-->"])
def test_thematic_breaks_and_fences_stay_text(text: str) -> None:
    assert _COMMONMARK.render(webex_md(text)) == f"<p>{escapeHtml(clean(text))}</p>\n"


def test_clip_at_its_bounds() -> None:
    """A limit of one leaves room for the mark alone; nothing at all at zero or below."""
    from shared.notify.escape import clip

    assert clip("abc", 1) == "…"
    assert clip("abc", 2) == "a…"
    assert clip("abc", 3) == "abc"
    assert clip("abc", 0) == ""
    assert clip("abc", -1) == ""


def test_cap_utf8_at_its_bounds() -> None:
    """Exactly the cap passes whole; a cap of the mark's three bytes is the mark alone; below it the
    head alone; a cap of zero or less is empty (never the head of the text past the cap)."""
    from shared.notify.escape import cap_utf8

    assert cap_utf8("abcd", 4) == "abcd"
    assert cap_utf8("abcdef", 4) == "a…"
    assert cap_utf8("abcdef", 3) == "…"
    assert cap_utf8("abcdef", 2) == "ab"
    assert cap_utf8("abcdef", 0) == ""
    assert cap_utf8("abcdef", -5) == ""
