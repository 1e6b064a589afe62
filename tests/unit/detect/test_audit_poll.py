"""shared/detect/audit_poll.py, fast: the audit poll's ``$filter`` as Graph receives it, and the page
size the reader accepts to the byte. Expected values are literals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.core.errors import TransientError
from shared.detect.audit_poll import MAX_PAGE_BYTES, directory_audit_filter, read_audit_page

FILTER_NAMES = (
    "activityDisplayName eq 'Delete service principal'"
    " or activityDisplayName eq 'Remove service principal'"
    " or activityDisplayName eq 'Hard delete service principal'"
    " or activityDisplayName eq 'Update service principal'"
    " or activityDisplayName eq 'Remove delegated permission grant'"
    " or activityDisplayName eq 'Remove app role assignment from service principal'"
    " or activityDisplayName eq 'Consent to application'"
    " or activityDisplayName eq 'Add service principal'"
    " or activityDisplayName eq 'Restore service principal'"
)
LINK = "https://graph.microsoft.com/v1.0/auditLogs/directoryAudits?$skiptoken=x"
EMPTY_PAGE = b'{"value":[],"@odata.nextLink":"' + LINK.encode() + b'"}'


@pytest.mark.parametrize(
    ("since", "start"),
    [
        (datetime(2026, 11, 30, 3, 4, 5, 678, tzinfo=UTC), "2026-11-30T03:04:05Z"),
        # another zone is sent as UTC; fractions are dropped (Graph's ge compares whole seconds)
        (datetime(2026, 11, 30, 1, 0, 0, tzinfo=timezone(timedelta(hours=2))), "2026-11-29T23:00:00Z"),
    ],
)
def test_the_filter_asks_for_the_watched_activities_since_a_utc_instant(since: datetime, start: str) -> None:
    assert directory_audit_filter(since) == f"activityDateTime ge {start} and ({FILTER_NAMES})"


def test_a_page_of_exactly_the_limit_is_read_and_one_byte_more_is_transient() -> None:
    assert MAX_PAGE_BYTES == 16_777_216
    padded = EMPTY_PAGE + b" " * (16_777_216 - len(EMPTY_PAGE))
    page = read_audit_page(padded)
    assert (page.extraction.records, page.next_link) == ([], LINK)
    with pytest.raises(TransientError, match=r"^Graph sent an unreadable audit page: payload too large: 16777217 "):
        read_audit_page(padded + b" ")


def test_a_garbled_page_is_transient_and_a_repeated_key_keeps_its_last_value() -> None:
    with pytest.raises(TransientError, match="unreadable audit page: truncated JSON"):
        read_audit_page(EMPTY_PAGE[:-1])
    page = read_audit_page(b'{"@odata.nextLink":"a","value":[],"@odata.nextLink":"' + LINK.encode() + b'"}')
    assert page.next_link == LINK
