"""HTML pages of the HTTP functions a person opens: the action links' confirmation and result pages,
and the status page. Jinja2 with autoescape on for every template, so event text (display names,
user names, verdict evidence) is inert wherever it appears; no script on any page."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

SECURITY_HEADERS = {
    # No script, no third-party anything; the form posts back to this page only; the token in the URL
    # never leaves in a Referer; nothing is cached (a result page is one person's answer).
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Robots-Tag": "noindex, nofollow",
}


def duration(seconds: float) -> str:
    """``1 h 05 min``, ``3 min 20 s``, ``12 s``."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def when(iso: str | None) -> str:
    """``2026-11-29 23:12:58 UTC`` from the stored ISO form; "—" for none."""
    from shared.core.clock import parse_timestamp

    at = parse_timestamp(iso)
    return "—" if at is None else at.strftime("%Y-%m-%d %H:%M:%S UTC")


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("shared.app", "templates"),
        autoescape=True,  # every template here is HTML
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(duration=duration, when=when)
    return env


def render_page(template: str, **values: Any) -> str:
    return environment().get_template(template).render(**values)
