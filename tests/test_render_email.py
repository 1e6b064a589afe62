"""The opened e-mail carries the fix: consent link, steps, incident id, impact; plus each notice kind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.core.catalogue import INTEGRATION, consent_url
from shared.core.models import Action, AuditRecord, Initiator, Kind, Source, TargetResource
from shared.notify import NoticeKind, build_view, render, render_preview
from shared.notify.view import CONTROL_HUB_ERROR, ENTRA_ENTERPRISE_APPS, IncidentView

TENANT = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
CONSENT = consent_url(INTEGRATION, TENANT)


def sample(
    notice: NoticeKind = NoticeKind.OPENED, action: Action = Action.NOTIFY_CONSENT, **kw: object
) -> IncidentView:
    record = AuditRecord(
        record_id="Directory_1",
        activity="Delete service principal",
        source=Source.GRAPH,
        initiator=Initiator(kind="user", user_principal_name="alex@contoso.com"),
        targets=(TargetResource(id="6b1c7a1e-0000-4000-8000-000000000001", app_id=INTEGRATION.app_id),),
        event_time=datetime(2023, 5, 21, 22, 40, tzinfo=UTC),
    )
    return build_view(
        incident_id="inc-2023-05-21-001",
        tenant_id=TENANT,
        notice=notice,
        kind=Kind.INTEGRATION_DELETED,
        action=action,
        app=INTEGRATION,
        detected_at=datetime(2023, 5, 21, 22, 41, tzinfo=UTC),
        record=record,
        detected_by=["graph", "loganalytics"],
        webex_org_id="2fdb923e-1d23-4e1b-a30f-e9cd88845744",
        **kw,  # type: ignore[arg-type]
    )


def test_opened_email_has_everything_an_admin_needs() -> None:
    r = render(sample(), "email")
    assert r.subject == (
        f"[Action required] Webex directory sync broken: Cisco Webex Identity Integration deleted (tenant {TENANT})"
    )
    assert r.html is not None
    for part in (r.text, r.html):
        assert "inc-2023-05-21-001" in part
        assert "alex@contoso.com" in part
        assert "Delete service principal" in part
        assert "6b1c7a1e-0000-4000-8000-000000000001" in part
        assert "Allow Azure AD sync" in part
        assert "Enterprise applications" in part
        assert "Accept" in part
        assert "Privileged Role Administrator" in part
        assert ENTRA_ENTERPRISE_APPS in part
        assert "2023-05-21 22:40 UTC" in part
        assert "users and groups stop syncing" in part
    assert CONTROL_HUB_ERROR in r.text
    assert CONTROL_HUB_ERROR.replace('"', "&#34;") in r.html or CONTROL_HUB_ERROR in r.html
    assert CONSENT in r.text
    assert f'<a href="{CONSENT}"'.replace("&", "&amp;") in r.html  # the button
    assert ">Grant admin consent</a>" in r.html
    assert r.html.count("<li") == 4
    assert "<table" in r.html
    # the consent link comes before the steps in both parts
    assert r.text.index(CONSENT) < r.text.index("Steps:")


def test_reenable_and_reprovision_steps() -> None:
    reenable = render(sample(action=Action.NOTIFY_REENABLE), "email").text
    assert "Enabled for users to sign-in?" in reenable and "Save" in reenable
    assert CONSENT not in reenable
    reprovision = render(sample(action=Action.NOTIFY_REPROVISION), "email").text
    assert "Wizard App set-up" in reprovision and "Cisco Webex Identity" in reprovision


@pytest.mark.parametrize(
    ("notice", "subject_start", "consent_shown"),
    [
        (NoticeKind.REMINDER, "[Reminder]", True),
        (NoticeKind.ESCALATED, "[Escalated]", True),
        (NoticeKind.RESOLVED, "[Resolved]", False),
    ],
)
def test_follow_up_notices(notice: NoticeKind, subject_start: str, consent_shown: bool) -> None:
    view = sample(notice, time_to_recover=timedelta(hours=1, minutes=7), attempts=4, reason="AUTO_RESTORE is off")
    r = render(view, "email")
    assert r.subject and r.subject.startswith(subject_start)
    assert (CONSENT in r.text) is consent_shown
    webex = render(view, "webex").text
    assert (CONSENT in webex) is consent_shown
    assert len(webex) < 1200  # follow-ups are short thread replies
    if notice is NoticeKind.RESOLVED:
        assert "1 h 07 min" in r.text and "1 h 07 min" in webex
        assert "Steps:" not in r.text


def test_restored_notice_replaces_the_opening_one() -> None:
    """With AUTO_RESTORE the restored notice is the first an admin sees: full details, no consent
    link, and what is left to do (find out who deleted it)."""
    view = sample(NoticeKind.RESTORED)
    r = render(view, "email")
    assert r.subject and r.subject.startswith("[Restored]")
    assert CONSENT not in r.text and "Grant admin consent" not in (r.html or "")
    assert "Restored automatically" in r.text and "Details:" in r.text and "Steps:" in r.text
    assert "AUTO_RESTORE" in r.text and "Impact:" not in r.text
    webex = render(view, "webex").text
    assert webex.startswith("**Restored automatically:") and CONSENT not in webex and "**Details**" in webex
    card = render(view, "teams").payload or {}
    assert all(a["title"] != "Grant admin consent" for a in card["attachments"][0]["content"]["actions"])
    doc = render(view, "webhook").payload or {}
    assert doc["notice"] == "restored" and doc["consent_needed"] is False and doc["impact"] is None
    assert len(doc["fix_steps"]) == 3


def test_render_preview_shapes() -> None:
    view = sample()
    email_preview = render_preview(view, "email")
    assert email_preview.startswith("Subject: [Action required]")
    assert "--- text/plain ---" in email_preview and "--- text/html ---" in email_preview
    assert render_preview(view, "teams").lstrip().startswith("{")
    assert render_preview(view, "webhook").lstrip().startswith("{")
    assert render_preview(view, "webex").startswith("**Webex directory sync is broken.")
    with pytest.raises(ValueError, match="unknown channel"):
        render(view, "sms")  # type: ignore[arg-type]
