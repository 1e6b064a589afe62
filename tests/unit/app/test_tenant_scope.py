"""A tenant's view of the composition root (issue 17): everything a use case built from
``svc.for_tenant(t)`` reads is that tenant's — its id, contacts, channels, state partition and Graph
token — while the process's clients are shared and the provider's own contacts are never reached."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr

from shared.app.runtime import Services, TenantServices
from shared.core.settings import StorageConfig, load_settings
from shared.core.tenant import make_tenant, tenant_settings

PROVIDER = {
    "TENANT_ID": "8f2c3a1e-5b6d-4e7f-9a0b-1c2d3e4f5a6b",
    "WEBEX_ORG_ID": "provider-org",
    "TENANCY_MODE": "provider",
    "PROVIDER_APP_CLIENT_ID": "5b0c7e4e-2f1d-4c1a-9a51-7d2f3b8c9e01",
    "MAIL_SENDER": "noc@provider.example",
    "MAIL_TO": "noc@provider.example",
    "TEAMS_WEBHOOK_URL": "https://provider.webhook.office.com/ops",
    "WEBEX_ROOM_ID": "provider-room",
    "NOTIFY_WEBHOOK_URL": "https://psa.provider.example/hook",
    "NOTIFY_WEBHOOK_SECRET": "s" * 32,
    "WEBEX_BOT_TOKEN": "bot-token",
}
A = "11111111-2222-4333-8444-555555555555"
B = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"


def _root() -> Services:
    return Services(load_settings(PROVIDER), StorageConfig(connection_string="UseDevelopmentStorage=true"))


def test_a_tenant_sees_its_own_contacts_and_channels_never_the_providers() -> None:
    tenant = make_tenant(
        A.upper(),
        webex_org_id="org-a",
        contacts="it@a.example; Sec@a.example",
        channels={
            "teams": "https://a.webhook.office.com/x",
            "webex": "room-a",
            "email": "sec@A.example, ops@a.example",
        },
    )
    s = tenant_settings(load_settings(PROVIDER), tenant)
    assert s.tenant_id == A
    assert s.webex_org_id == "org-a"
    assert s.mail_to == ("it@a.example", "Sec@a.example", "ops@a.example")  # duplicates across both dropped
    assert s.teams_webhook_url == SecretStr("https://a.webhook.office.com/x")
    assert s.webex_room_id == "room-a"
    assert s.notify_webhook_url == "https://psa.provider.example/hook"  # the provider's PSA, with tenant fields
    assert s.mail_sender == "noc@provider.example"  # sent from the provider's mailbox


def test_a_tenant_without_channels_reaches_nobody_of_the_provider() -> None:
    s = tenant_settings(load_settings(PROVIDER), make_tenant(B))
    assert (s.mail_to, s.teams_webhook_url, s.webex_room_id) == ((), None, None)
    assert not s.email_enabled
    assert s.webex_org_id == "provider-org"  # a partner administrator's token reaches customer orgs
    own = tenant_settings(load_settings(PROVIDER), make_tenant(B, channels={"webhook": "https://b.example/h"}))
    assert own.notify_webhook_url == "https://b.example/h"


def test_every_use_case_built_from_the_scope_acts_as_the_tenant() -> None:
    root = _root()
    scope = root.for_tenant(make_tenant(A, contacts="it@a.example"))
    assert isinstance(scope, TenantServices)
    assert scope.settings.tenant_id == A and scope.tenant_guid == A
    assert scope.checkpoints().tenant_id == A  # cursors and leases in the tenant's partition
    assert root.checkpoints().tenant_id == PROVIDER["TENANT_ID"]
    assert scope.table() is root.table() and scope.store() is root.store() and scope.queue() is root.queue()
    for deps in (scope.pipeline_deps(), scope.verification_deps(), scope.poison_deps(), scope.notice_deps()):
        assert deps.settings.tenant_id == A
        assert deps.settings.mail_to == ("it@a.example",)
    assert scope.pipeline_deps().checkpoints is scope.checkpoints()
    assert scope.operational_deps().tenant_id == A


def test_what_a_tenants_runs_learn_is_kept_per_tenant() -> None:
    root = _root()
    a1, a2, b = root.for_tenant(make_tenant(A)), root.for_tenant(make_tenant(A)), root.for_tenant(make_tenant(B))
    assert a1.webex_status is a2.webex_status and a1.config_announcements is a2.config_announcements
    assert a1.webex_status is not b.webex_status and a1.webex_status is not root.webex_status
    assert b.for_tenant(make_tenant(A)).webex_status is a1.webex_status


async def test_graph_is_the_tenants_and_email_goes_from_the_providers_mailbox(monkeypatch: pytest.MonkeyPatch) -> None:
    root = _root()
    asked: list[str] = []
    tenant_graph, own_graph = object(), type("G", (), {"client": object()})()

    async def fake_tenant_graph(tenant_id: str) -> Any:
        asked.append(tenant_id)
        return tenant_graph

    async def fake_graph() -> Any:
        return own_graph

    monkeypatch.setattr(root, "tenant_graph", fake_tenant_graph)
    monkeypatch.setattr(root, "graph", fake_graph)
    scope = root.for_tenant(make_tenant(A, contacts="it@a.example"))
    assert await scope.graph() is tenant_graph and asked == [A]
    channels = await scope.channels()
    email = [c for c in channels if c.name == "email"]
    assert len(email) == 1 and email[0].to == ("it@a.example",)
    assert {c.name for c in channels} == {"email", "webhook"}  # the provider's Teams and room are not the tenant's
    await scope.aclose()
    assert root._http is not None  # the scope closed nothing of the root's
    await root.aclose()


def test_an_email_channel_entry_must_hold_addresses() -> None:
    from shared.core.tenant import TenantError

    with pytest.raises(TenantError, match="not an e-mail address"):
        make_tenant(A, channels={"email": "ops@a.example; <script>"})
