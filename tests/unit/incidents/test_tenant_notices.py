"""Issue 17 point 6 (routing content): a customer tenant's notice carries THAT tenant's consent URL,
Entra links opened in its directory, its Webex org and its display name (data: escaped per channel),
on every channel and in the webhook's tenant fields; an incident never goes out through another
tenant's channels. Expected URLs are literals (rebuilding them with the code under test would share
its bugs)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.core.settings import Settings
from shared.core.tenant import make_tenant, tenant_settings
from shared.incidents.notices import MisroutedNotice, NoticeDeps, deliver, view_for
from shared.incidents.store import IncidentStore
from shared.notify.render import render
from shared.notify.view import NoticeKind, NoticeTenant
from tests.unit.incidents.conftest import CountingChannel, incident

PROVIDER_TENANT = "8f2c3a1e-5b6d-4e7f-9a0b-1c2d3e4f5a6b"
A = "11111111-2222-4333-8444-555555555555"
B = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
PROVIDER = {
    "TENANT_ID": PROVIDER_TENANT,
    "WEBEX_ORG_ID": "provider-org",
    "TENANCY_MODE": "provider",
    "PROVIDER_APP_CLIENT_ID": "5b0c7e4e-2f1d-4c1a-9a51-7d2f3b8c9e01",
}
CONSENT_A = "https://login.microsoftonline.com/11111111-2222-4333-8444-555555555555/adminconsent?client_id=90db942a-c1eb-4e8d-82e4-eebf64a7e2ae"
APPS_A = (
    "https://entra.microsoft.com/?tenant=11111111-2222-4333-8444-555555555555"
    "#view/Microsoft_AAD_IAM/StartboardApplicationsMenuBlade/~/AppAppsPreview"
)
AUDIT_A = (
    "https://entra.microsoft.com/?tenant=11111111-2222-4333-8444-555555555555"
    "#view/Microsoft_AAD_IAM/AuditLogList.ReactView"
)
HOSTILE = "Fabrikam <script>alert(1)</script> [click](https://evil.example) **bold**\r\nBcc: x@evil.example"


def _provider() -> Settings:
    return Settings.model_validate(PROVIDER)


def _scope(tenant_id: str = A, name: str = "Fabrikam", org: str = "org-a") -> tuple[Settings, NoticeTenant]:
    tenant = make_tenant(tenant_id, display_name=name, webex_org_id=org, contacts="it@a.example")
    return tenant_settings(_provider(), tenant), NoticeTenant(tenant.tenant_id, tenant.display_name, org)


def test_the_consent_url_is_the_incidents_tenant_never_the_deployments() -> None:
    view = view_for(_provider(), incident(tenant_id=A), NoticeKind.OPENED)
    assert view.consent_url == CONSENT_A
    assert PROVIDER_TENANT not in json.dumps(render(view, "webhook").payload)


def test_a_tenants_notice_carries_its_links_org_and_name_on_every_channel() -> None:
    settings, tenant = _scope()
    view = view_for(settings, incident(tenant_id=A), NoticeKind.OPENED, tenant)
    assert (view.consent_url, view.links.enterprise_apps, view.links.audit_log) == (CONSENT_A, APPS_A, AUDIT_A)
    assert [s.url for s in view.fix_steps if s.url and "entra" in s.url] == [APPS_A]
    email, teams, webex = render(view, "email"), render(view, "teams"), render(view, "webex")
    assert email.subject is not None and "(tenant Fabrikam, 11111111-2222-4333-8444-555555555555)" in email.subject
    for text in (email.text, email.html or "", json.dumps(teams.payload), webex.text):
        assert "Fabrikam" in text and APPS_A.split("#", maxsplit=1)[0] in text and "org-a" in text
        assert "provider-org" not in text and PROVIDER_TENANT not in text


def test_the_webhook_carries_the_tenant_fields_a_psa_files_tickets_by() -> None:
    settings, tenant = _scope()
    doc = render(view_for(settings, incident(tenant_id=A), NoticeKind.OPENED, tenant), "webhook").payload or {}
    assert (doc["tenant_id"], doc["tenant_name"], doc["webex_org_id"]) == (A, "Fabrikam", "org-a")
    assert doc["consent_url"] == CONSENT_A and doc["links"]["enterprise_apps"] == APPS_A


def test_single_tenant_notices_keep_their_plain_links_and_no_name() -> None:
    settings = Settings.model_validate({"TENANT_ID": A, "WEBEX_ORG_ID": "org-1"})
    view = view_for(settings, incident(tenant_id=A), NoticeKind.OPENED)
    assert view.links.enterprise_apps.startswith("https://entra.microsoft.com/#view/")
    doc = render(view, "webhook").payload or {}
    assert doc["tenant_name"] is None and doc["webex_org_id"] == "org-1"


def test_a_name_from_another_tenant_is_never_put_on_this_incident() -> None:
    settings, _ = _scope()
    other = NoticeTenant(B, "Contoso", "org-b")
    view = view_for(settings, incident(tenant_id=A), NoticeKind.OPENED, other)
    assert view.tenant_name is None and view.webex_org_id == "org-a"


def test_a_hostile_display_name_is_escaped_like_event_text_in_every_channel() -> None:
    from shared.notify.escape import card_md, clean, webex_md

    settings, tenant = _scope(name=HOSTILE)
    view = view_for(settings, incident(tenant_id=A), NoticeKind.OPENED, tenant)
    flat = clean(HOSTILE)
    assert "\n" not in flat and "\r" not in flat
    email = render(view, "email")
    assert "<script>" not in (email.html or "") and "&lt;script&gt;" in (email.html or "")
    assert email.subject is not None and "\n" not in email.subject and "Bcc:" in email.subject  # one line: no header
    card = (render(view, "teams").payload or {})["attachments"][0]["content"]
    facts = {f["title"]: f["value"] for b in card["body"] if b["type"] == "FactSet" for f in b["facts"]}
    assert facts["Customer"] == card_md(flat) and "[click](https" not in facts["Customer"]
    webex = render(view, "webex").text
    assert f"- Customer: {webex_md(flat)}" in webex and "[click](https" not in webex
    assert (render(view, "webhook").payload or {})["tenant_name"] == flat


async def test_an_incident_is_never_sent_through_another_tenants_channels(store: IncidentStore) -> None:
    settings_b, tenant_b = _scope(B, "Contoso", "org-b")
    channel = CountingChannel("webhook")

    async def channels() -> list[Any]:
        return [channel]

    inc = incident(tenant_id=A, deliveries={})
    with pytest.raises(MisroutedNotice):
        await deliver(NoticeDeps(settings_b, store, channels, tenant_b), inc, NoticeKind.OPENED)
    assert channel.sent == []
