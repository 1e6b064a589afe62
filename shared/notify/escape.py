"""Escaping for untrusted text, one function per output format.

Display names, user names, activity strings and object ids arrive in audit events that anyone with
directory write access (or a forged payload) controls. Every human channel must show them as inert
text: no markup, no links, no mentions, no hidden characters. The order is always the same —
:func:`clean` (drop control/format characters, one line), :func:`clip` (bound the size), then the
format's escaper — so each escaper only has to reason about visible characters.

:class:`Safe` marks text that is already correct for the output it goes into (an escaped value, or a
URL we built ourselves from the catalogue and settings). Templates' ``finalize`` hook passes
``Safe`` through and escapes everything else, so a template that forgets a filter still escapes.
"""

from __future__ import annotations

import re
import unicodedata

ELLIPSIS = "…"

# Whitespace-like controls become one space (the fields are single-line labels).
_SPACE_LIKE = frozenset("\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\u2028\u2029")
# Cc (C0/C1 controls), Cf (bidi overrides such as U+202E, zero-width characters, BOM) and Cs (lone
# surrogates, which cannot even be encoded as UTF-8) are dropped.
_DROP_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})

# Link triggers are broken wherever they occur, whatever precedes them: linkifiers (cmark-gfm's
# autolinks, linkify-it) and clients find "https://" after "_", "1" or "é" too, and a markdown escape
# of the character before splits the text so the scheme starts a fresh run. Unicode look-alikes of
# ':', '/' and '.' get the same treatment: a client that folds them to ASCII (NFKC, IDNA) would
# otherwise rebuild the link, and linkify-it takes "https：//x" for the protocol-relative "//x".
_COLONS = ":\uff1a\ufe55\ufe13\u2236\ua789\u02d0\u0589\u05c3\u0703\u0704\u16ec\u205a\u1365"
_SLASHES = "/\\\uff0f\u2215\u2044\u29f8\u2571\u27cb\u3033"
_DOTS = ".\uff0e\u3002\uff61"
# A colon after a scheme (a letter, then letters, digits, "+.-") and before a non-space ("https:",
# "javascript:", "mailto:x"), whatever precedes the scheme; "Note: text" and "22:40" are left alone.
_SCHEME_COLON = re.compile(rf"[A-Za-z][A-Za-z0-9+.\-]*(?=[{re.escape(_COLONS)}]\S)")
_DOUBLE_SLASH = re.compile(rf"(?<=[{re.escape(_SLASHES)}])(?=[{re.escape(_SLASHES)}])")
_WWW = re.compile(rf"(?i)(?<=www)(?=[{re.escape(_DOTS)}])")
_AT_ALL = re.compile(r"(?i)@(?=(all|here|channel|everyone)\b)")

ZWJ = "\u200d"
ZWSP = "\u200b"

# Markdown escaping is for event text only, and only for what can start markup inside one line of
# Webex or Adaptive Card markdown (CommonMark + GFM): backslash escapes, code spans, emphasis,
# strikethrough, links and images ("[", "]"), raw HTML, autolinks and mentions ("<"), and entity
# references ("&amp;", "&#58;"). Once "[" and "<" are escaped, "(", ")", "!", "#", "|" and "." inside a
# line are inert and stay as written, so a name like "Ops (EMEA) #2" reads as it was typed.
_MD_INLINE = re.compile(r"[\\`*~\[\]<]|&(?=#|[A-Za-z][A-Za-z0-9]*;)")
# "_" between two ASCII letters or digits neither opens nor closes emphasis (CommonMark's flanking
# rules), so "first_last@contoso.com" keeps its underscore unescaped; any other "_" is escaped.
_MD_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
# Block markup needs the start of the text (a fact value is a paragraph of its own on a card): a
# heading "# ", a quote ">", a list item "- ", "+ ", "1. ", "1) ", a thematic break "---".
_MD_BLOCK_START = re.compile(r"^(?:#{1,6}(?=\s|$)|>|-(?=[\s-]|$)|\+(?=\s|$)|\d{1,9}[.)](?=\s|$))")


class Safe(str):
    """Text already fit for its output format, or a trusted URL: templates output it as is
    (HTML autoescaping still applies to it, which is right for attribute values)."""

    __slots__ = ()


def clean(value: object) -> str:
    """One line of visible text: control/format characters dropped, whitespace collapsed."""
    if value is None:
        return ""
    text = str(value)
    out: list[str] = []
    for ch in text:
        if ch in _SPACE_LIKE:
            out.append(" ")
        elif (ch.isascii() and ch.isprintable()) or unicodedata.category(ch) not in _DROP_CATEGORIES:
            out.append(ch)
    return " ".join("".join(out).split())


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, the cut marked with an ellipsis."""
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)] + ELLIPSIS


def defang(text: str) -> str:
    """Stop clients from turning untrusted text into links or mentions.

    Mail clients, Webex and Teams autolink ``scheme:``, ``//host`` and ``www.`` and expand ``@all``;
    a zero-width space before every scheme colon, between every two slashes and after every ``www``
    (look-alikes included, whatever comes before) keeps the text readable but inert, so the only
    link in a notice is the one we built from the catalogue. Bare host names and e-mail addresses
    carry no scheme and are left as they are (docs/security.md).
    """
    text = _SCHEME_COLON.sub(lambda m: m.group(0) + ZWSP, text)
    text = _DOUBLE_SLASH.sub(ZWSP, text)
    text = _WWW.sub(ZWSP, text)
    return _AT_ALL.sub(f"@{ZWJ}", text)


def plain(value: object) -> Safe:
    """Untrusted text for plain-text parts, subjects and (before autoescaping) HTML."""
    return Safe(defang(clean(value)))


def _markdown(value: object) -> str:
    """Event text as inert inline markdown: cleaned, defanged, the few markup starters escaped."""
    text = _MD_INLINE.sub(lambda m: "\\" + m.group(0), defang(clean(value)))
    text = _MD_UNDERSCORE.sub(r"\\_", text)
    return _MD_BLOCK_START.sub(_escape_block_marker, text)


def _escape_block_marker(match: re.Match[str]) -> str:
    marker = match.group(0)
    if marker[0].isdigit():  # "1." → "1\." (the digits are not markup, the dot is)
        return marker[:-1] + "\\" + marker[-1]
    return "\\" + marker


def webex_md(value: object) -> Safe:
    """Untrusted text for Webex markdown: cleaned, defanged, the markup starters backslash-escaped.

    ``<`` is escaped, which also disarms ``<@personId:…>`` / ``<@all>`` mention syntax.
    """
    return Safe(_markdown(value))


def card_md(value: object) -> Safe:
    """Untrusted text for Adaptive Card ``TextBlock`` markdown (Teams).

    Backslash escapes as for Webex; some Teams clients historically ignored them
    (microsoft/AdaptiveCards#5590), so ``](`` is also split with a zero-width space — link syntax
    cannot form even where escapes are not honoured.
    """
    return Safe(_markdown(value).replace("\\](", f"\\]{ZWSP}("))


def subject_line(value: object, limit: int = 200) -> str:
    """An e-mail subject: one line, no control characters, at most ``limit`` characters."""
    return clip(clean(value), limit)


def cap_utf8(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` UTF-8 bytes on a character boundary, marked with an
    ellipsis; a trailing lone backslash (half an escape) is dropped so the cut cannot un-escape."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    marker = ELLIPSIS.encode("utf-8")
    if max_bytes < len(marker):  # no room for the mark: the head alone, still within the cap
        return data[: max(max_bytes, 0)].decode("utf-8", errors="ignore")
    cut = data[: max_bytes - len(marker)].decode("utf-8", errors="ignore")
    stripped = cut.rstrip("\\")
    if (len(cut) - len(stripped)) % 2:
        cut = cut[:-1]
    return cut + ELLIPSIS
