"""The audit poll's side of detection: the ``$filter`` it asks Graph for and how it reads a page.

The Graph client (:mod:`shared.clients.graph`) only sends the request and hands back the answer's
bytes; what to ask for (the activities the rules act on) and what the answer means (audit records)
are decided here, next to the rules. The timer's sweep (:mod:`shared.app.sweep`) joins the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from shared.core.errors import PayloadError, TransientError

if TYPE_CHECKING:
    from shared.core.models import Extraction

MAX_PAGE_BYTES = 16 * 1024 * 1024
"""Largest audit page read (100 records of a few KB each is well under 1 MB)."""


@dataclass(frozen=True, slots=True)
class AuditPage:
    """One page of ``auditLogs/directoryAudits``, read into records as it arrived (see
    :func:`shared.detect.normalize.extract_page`), with the link to the next page."""

    extraction: Extraction
    next_link: str | None


def read_audit_page(raw: bytes) -> AuditPage:
    """An audit page through the classifier's reader (the typed lane for Graph's own shape) with the
    hostile-input rules of any payload but one: a repeated key keeps its last value, as Graph's own
    SDKs read it (the answer to our request, over TLS). Unreadable is transient, like bad JSON: the
    Graph client calls this inside its retried call, so a garbled answer is asked for again."""
    from shared.detect.normalize import extract_page

    try:
        extraction, link = extract_page(raw, limit=MAX_PAGE_BYTES, repeated_keys="last")
    except PayloadError as exc:
        raise TransientError(f"Graph sent an unreadable audit page: {exc}") from None
    return AuditPage(extraction, link)


def directory_audit_filter(since: datetime) -> str:
    """The audit poll's ``$filter``: ``activityDateTime ge <since> and (activityDisplayName eq 'a'
    or activityDisplayName eq 'b' …)`` over :data:`shared.detect.classify.WATCHED_ACTIVITIES`.

    Why this shape: without it every tick re-read the whole tenant's audit log for the overlap
    window (user, group, device, policy changes…), up to 50 pages a minute, to keep a handful of
    records. Graph documents ``$filter`` on directoryAudits with ``eq``, ``ge``, ``le`` and
    ``startswith`` only (List directoryAudits, "Optional query parameters"): ``activityDateTime``
    takes ``eq/ge/le``, ``activityDisplayName`` ``eq/startswith``, ``loggedByService`` ``eq``, and
    ``category`` takes no filter at all — so ``category eq 'ApplicationManagement'`` and ``in (…)``
    are out. ``eq`` clauses joined by ``or`` inside ``and`` is the form Microsoft's own samples and
    widely used tools send. The nine activities make a ~560-character filter (under 1 KB
    percent-encoded), far below the URL limits Graph enforces, and they narrow to exactly what the
    classifier acts on, which ``loggedByService eq 'Core Directory'`` would not (that is most of the
    log). Names are sent as Entra writes them; the classifier still matches case-insensitively, and
    the delta and presence checks do not depend on this poll (it adds who-did-it).
    """
    from shared.detect.classify import WATCHED_ACTIVITIES

    start = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    names = " or ".join("activityDisplayName eq '{}'".format(a.replace("'", "''")) for a in WATCHED_ACTIVITIES)
    return f"activityDateTime ge {start} and ({names})"
