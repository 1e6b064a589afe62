"""Operational notices render through the notify templates and escapes, like incident notices."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared.notify.operational import OperationalNotice, render_operational
from shared.notify.render import json_body

NOW = datetime(2024, 5, 21, 22, 44, 5, tzinfo=UTC)
NOTICE = OperationalNotice(
    kind="webex_authorization_expired",
    title="The Webex sync remediator's Webex authorization expired",
    lines=(
        "Re-authorize the service app in Control Hub → Management → Apps → Service apps (then store the token).",
        "Evidence: POST /v1/access_token answered 400 [invalid_grant] <@all> see https://evil.example/x",
    ),
    incident_id="inc-7",
)
EVIDENCE_MD = (
    "Evidence: POST /v1/access_token answered 400 \\[invalid_grant\\] \\<@\u200dall> "
    "see https\u200b:/\u200b/evil.example/x"
)


def test_webex_markdown() -> None:
    r = render_operational(NOTICE, "webex", now=NOW)
    assert r.text == (
        "**The Webex sync remediator's Webex authorization expired**\n\n"
        "Re-authorize the service app in Control Hub → Management → Apps → Service apps (then store the token).\n\n"
        f"{EVIDENCE_MD}\n"
    )
    assert r.incident_id == "inc-7"


def test_email_keeps_one_paragraph_per_line() -> None:
    r = render_operational(NOTICE, "email", now=NOW)
    assert r.subject == "[Webex sync remediator] The Webex sync remediator's Webex authorization expired"
    assert r.text == (
        "The Webex sync remediator's Webex authorization expired\n\n"
        "Re-authorize the service app in Control Hub → Management → Apps → Service apps (then store the token).\n\n"
        "Evidence: POST /v1/access_token answered 400 [invalid_grant] <@\u200dall> "
        "see https\u200b:/\u200b/evil.example/x\n\n"
        "-- Webex sync remediator"
    )
    html = r.html or ""
    assert '<h2 style="margin:0 0 12px 0;font-size:18px">The Webex sync remediator&#39;s Webex authorization' in html
    assert "[invalid_grant] &lt;@\u200dall&gt; see https\u200b:/\u200b/evil.example/x</p>" in html
    assert "<a " not in html


def test_teams_card_uses_the_shared_envelope() -> None:
    r = render_operational(NOTICE, "teams", now=NOW)
    payload = r.payload or {}
    (attachment,) = payload["attachments"]
    content = attachment["content"]
    assert (payload["type"], attachment["contentType"]) == ("message", "application/vnd.microsoft.card.adaptive")
    assert (content["type"], content["version"], content["actions"]) == ("AdaptiveCard", "1.4", [])
    assert [b["text"] for b in content["body"]] == [
        "The Webex sync remediator's Webex authorization expired",
        "Re-authorize the service app in Control Hub → Management → Apps → Service apps (then store the token).",
        EVIDENCE_MD,
    ]
    assert r.text == "The Webex sync remediator's Webex authorization expired"


def test_webhook_document() -> None:
    r = render_operational(NOTICE, "webhook", now=NOW)
    assert json.loads(json_body(r.payload or {})) == {
        "schema": "webex-sync-remediator/operational@1",
        "kind": "webex_authorization_expired",
        "incident_id": "inc-7",
        "title": "The Webex sync remediator's Webex authorization expired",
        "lines": list(NOTICE.lines),
        "sent_at": "2024-05-21T22:44:05.000000Z",
    }


def test_secrets_are_masked_and_lines_bounded() -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlc2lnbmF0dXJl"
    notice = OperationalNotice(kind="k", title="T\r\nBcc: x", lines=(f"refresh_token={token}", "x" * 5000))
    for channel in ("email", "webex", "teams", "webhook"):
        r = render_operational(notice, channel, now=NOW)  # type: ignore[arg-type]
        whole = r.text + (r.html or "") + json.dumps(r.payload)
        assert token not in whole, channel
        assert "x" * 600 not in whole and "x" * 599 in whole, channel
    assert render_operational(notice, "email", now=NOW).subject == "[Webex sync remediator] T Bcc: x"


def test_unknown_channel() -> None:
    with pytest.raises(ValueError, match="unknown channel"):
        render_operational(NOTICE, "fax", now=NOW)  # type: ignore[arg-type]


def test_a_customer_tenants_operational_notice_names_the_tenant_in_every_channel() -> None:
    """Issue 17 point 6: the tenant's contacts and the PSA webhook see which tenant it is about."""
    from shared.notify.view import NoticeTenant

    tenant = NoticeTenant("11111111-2222-4333-8444-555555555555", "Fabrikam <b>\r\nX", "org-a")
    doc = render_operational(NOTICE, "webhook", now=NOW, tenant=tenant).payload or {}
    assert (doc["tenant_id"], doc["tenant_name"], doc["webex_org_id"]) == (tenant.tenant_id, "Fabrikam <b> X", "org-a")
    assert doc["lines"][0] == "Tenant: Fabrikam <b> X (11111111-2222-4333-8444-555555555555)"
    html = render_operational(NOTICE, "email", now=NOW, tenant=tenant).html or ""
    assert "Fabrikam &lt;b&gt; X" in html and "Fabrikam <b>" not in html
    for channel in ("teams", "webex"):
        r = render_operational(NOTICE, channel, now=NOW, tenant=tenant)  # type: ignore[arg-type]
        assert "Tenant: Fabrikam" in json.dumps(r.payload) + r.text
    plain = render_operational(NOTICE, "webhook", now=NOW).payload or {}
    assert not {"tenant_id", "tenant_name", "webex_org_id"} & set(plain)  # single-tenant: unchanged
