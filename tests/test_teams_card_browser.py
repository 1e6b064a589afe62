"""Issue 18: the Teams card reads whole at a chat card's width.

The card is rendered by the official Adaptive Cards renderer (npm ``adaptivecards``, markdown through
``markdown-it``) in headless Chromium at 480 px (devtools/card_preview.py): the renderer reports no
parse or validation event, no button title is cut (a cut title's ``scrollWidth`` exceeds its
``clientWidth``: "Grant admin …"), every button lies inside the card, and "Check now" and
"Acknowledge" are buttons when the view carries them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from devtools.browser import chromium_page
from devtools.card_preview import CHAT_CARD_WIDTH, render_card
from shared.core.catalogue import INTEGRATION, Catalogue
from shared.core.models import Action, Kind
from shared.notify import IncidentView, NoticeKind, build_view, render
from tests.test_render_hostile import TRUSTED_URLS, hostile_view

CHECK_NOW = "https://remediator.example.net/api/actions/eyJpIjoiaW5jLTQyIiwiYSI6ImNoZWNrX25vdyJ9.c2ln"
ACKNOWLEDGE = "https://remediator.example.net/api/actions/eyJpIjoiaW5jLTQyIiwiYSI6ImFja25vd2xlZGdlIn0.c2ln"
CARD_PADDING = 15  # the renderer's default host config pads the card by 15 px on each side

if TYPE_CHECKING:
    from playwright.sync_api import Page


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    with chromium_page(width=CHAT_CARD_WIDTH + 40, height=900) as p:
        yield p


def _view(kind: Kind, action: Action, notice: NoticeKind) -> IncidentView:
    app = Catalogue().identity if kind is Kind.IDENTITY_APP_DELETED else INTEGRATION
    view = build_view(
        incident_id="inc-20240521-4f2a",
        tenant_id="3f2504e0-4f89-41d3-9a0c-0305e82c3301",
        notice=notice,
        kind=kind,
        action=action,
        app=app,
        detected_at=datetime(2024, 5, 21, 22, 44, tzinfo=UTC),
        time_to_recover=timedelta(minutes=42) if notice is NoticeKind.RESOLVED else None,
        attempts=3,
    )
    return dataclasses.replace(view, check_now_url=CHECK_NOW, acknowledge_url=ACKNOWLEDGE)


def _content(view: IncidentView) -> dict:  # type: ignore[type-arg]
    return (render(view, "teams").payload or {})["attachments"][0]["content"]  # type: ignore[no-any-return]


CASES = [
    (Kind.INTEGRATION_DELETED, Action.NOTIFY_CONSENT),
    (Kind.INTEGRATION_DISABLED, Action.NOTIFY_REENABLE),
    (Kind.IDENTITY_APP_DELETED, Action.NOTIFY_REPROVISION),
]


@pytest.mark.parametrize("notice", list(NoticeKind))
@pytest.mark.parametrize(("kind", "action"), CASES, ids=str)
def test_card_reads_whole_at_chat_width(page: Page, kind: Kind, action: Action, notice: NoticeKind) -> None:
    view = _view(kind, action, notice)
    report = render_card(page, _content(view))
    assert report.events == [], "the renderer parsed and validated the card without complaint"
    titles = [b.title for b in report.buttons]
    expected = (["Grant admin consent"] if view.consent_needed else []) + ["Check now", "Acknowledge"]
    assert titles == expected
    for button in report.buttons:
        assert not button.cut, f"{button.title!r} is cut ({button.scroll_width} > {button.client_width} px)"
        assert button.left >= CARD_PADDING and button.right <= CHAT_CARD_WIDTH - CARD_PADDING, button
    hrefs = [link["href"] for link in report.links]
    assert hrefs[-3:] == [
        "https://entra.microsoft.com/#view/Microsoft_AAD_IAM/StartboardApplicationsMenuBlade/~/AppAppsPreview",
        "https://entra.microsoft.com/#view/Microsoft_AAD_IAM/AuditLogList.ReactView",
        "https://admin.webex.com/settings",
    ], "the deep links are links, after the steps"
    assert "\\" not in report.text, "no escape shows: our own words are not escaped"


HOSTILE = (
    "# Ops <script>alert(1)</script> [x](http://evil) ![i](http://evil/x.png) <@all> @here `code` **bold** "
    "_i_ ~~s~~ > q &amp; Grant consent here: https://login.microsoftonline.com/common/adminconsent?client_id=1"
)


def test_hostile_event_text_shows_as_text(page: Page) -> None:
    """The hostile text is on the card, visibly and whole, and nothing in it became a link, a
    mention, an image, a heading or other markup: the only anchors are ours."""
    view = dataclasses.replace(hostile_view(HOSTILE), check_now_url=CHECK_NOW, acknowledge_url=ACKNOWLEDGE)
    report = render_card(page, _content(view))
    assert report.events == []
    assert {link["href"] for link in report.links} <= TRUSTED_URLS
    assert [b.title for b in report.buttons] == ["Grant admin consent", "Check now", "Acknowledge"]
    shown = report.text.replace("\u200b", "").replace("\u200d", "")
    assert shown.count(HOSTILE) >= 3, "activity, initiator and object id each show the text as typed"
    markup = "#card img, #card script, #card code, #card em, #card del, #card h1, #card blockquote"
    assert page.locator(markup).count() == 0
