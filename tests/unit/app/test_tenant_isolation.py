"""Issue 17 point 10, the isolation property: over random sets of customer tenants — hostile display
names, their own channels or none, contacts drawn from one shared pool (two tenants MAY share a
contact address: an MSP's engineer can be on several customers' lists) — every notice of an incident
in each tenant (opened, reminder, escalated, resolved, restored) and every operational notice, sent
through ``svc.for_tenant(t)``'s channels, goes only to that tenant's contacts and channels or the
provider's PSA webhook, and names no other tenant's id, name, Webex org or consent URL. Because
contacts can be shared, "who received it" alone proves nothing: each message's CONTENT is checked.

Captured at the channel boundary: the HTTP channels (Webex, Teams, webhook) run for real against an
``httpx.MockTransport``; e-mail is caught at ``EmailChannel.send`` with the recipients it was built
with (Graph itself is not needed to prove routing). The incident rows live in the in-memory table.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.app.runtime import Services
from shared.core.settings import StorageConfig, load_settings
from shared.core.tenant import Tenant, make_tenant
from shared.notify.view import NoticeKind

PROVIDER_TENANT = "8f2c3a1e-5b6d-4e7f-9a0b-1c2d3e4f5a6b"
PSA = "https://psa.provider.example/hook"
PROVIDER = {
    "TENANT_ID": PROVIDER_TENANT,
    "WEBEX_ORG_ID": "org-provider-0000",
    "TENANCY_MODE": "provider",
    "PROVIDER_APP_CLIENT_ID": "5b0c7e4e-2f1d-4c1a-9a51-7d2f3b8c9e01",
    "MAIL_SENDER": "noc@provider.example",
    "MAIL_TO": "noc@provider.example",
    "TEAMS_WEBHOOK_URL": "https://provider.webhook.office.com/ops",
    "WEBEX_ROOM_ID": "room-provider",
    "WEBEX_BOT_TOKEN": "bot-token-provider",
    "NOTIFY_WEBHOOK_URL": PSA,
    "NOTIFY_WEBHOOK_SECRET": "s" * 32,
    "ACTION_LINK_KEY": "k" * 40,
    "PUBLIC_BASE_URL": "https://func-provider.azurewebsites.net",
}
POOL = ("alice@shared.example", "bob@shared.example", "it@one.example", "it@two.example", "sec@three.example")
KINDS = (NoticeKind.OPENED, NoticeKind.REMINDER, NoticeKind.ESCALATED, NoticeKind.RESTORED, NoticeKind.RESOLVED)


@dataclass(frozen=True)
class Spec:
    tenant: Tenant
    tag: str  # unique text in the name, org id and channel URLs: its presence anywhere is a leak


@st.composite
def tenant_sets(draw: st.DrawFn) -> list[Spec]:
    ids = draw(st.lists(st.uuids(version=4), min_size=2, max_size=4, unique=True))
    specs = []
    for uid in ids:
        tag = uid.hex  # unique per tenant (the ids are)
        hostile = draw(st.text(max_size=30))  # markup, control characters, RTL marks…: data
        channels: dict[str, str] = {}
        if draw(st.booleans()):
            channels["teams"] = f"https://t{tag}.webhook.office.com/x"
        if draw(st.booleans()):
            channels["webex"] = f"room-{tag}"
        if draw(st.booleans()):
            channels["webhook"] = f"https://w{tag}.tickets.example/h"
        if draw(st.booleans()):
            channels["email"] = draw(st.sampled_from(POOL))
        contacts = draw(st.lists(st.sampled_from(POOL), max_size=3))
        tenant = make_tenant(str(uid), display_name=f"{hostile} Tenant-{tag}", webex_org_id=f"org-{tag}",
                             contacts=contacts, channels=channels)  # fmt: skip
        specs.append(Spec(tenant, tag))
    return specs


@dataclass
class Captured:
    """Every message that left, as (channel, destinations, content)."""

    sent: list[tuple[str, frozenset[str], str]] = field(default_factory=list)

    def http(self, request: httpx.Request) -> httpx.Response:
        body = request.content.decode()
        url = str(request.url)
        if url.endswith("/messages"):  # Webex: the room is the destination
            room = json.loads(body)["roomId"]
            self.sent.append(("webex", frozenset({room}), body))
            return httpx.Response(200, json={"id": f"msg-{len(self.sent)}"})
        self.sent.append(("webhook" if "office.com" not in url else "teams", frozenset({url}), body))
        return httpx.Response(200, json={})


def _allowed(spec: Spec) -> dict[str, frozenset[str]]:
    t = spec.tenant
    mail = set(t.contacts) | ({t.channels["email"]} if "email" in t.channels else set())
    return {
        "email": frozenset(a.lower() for a in mail),
        "teams": frozenset({t.channels["teams"]}) if "teams" in t.channels else frozenset(),
        "webex": frozenset({t.channels["webex"]}) if "webex" in t.channels else frozenset(),
        "webhook": frozenset({t.channels.get("webhook", PSA)}),
    }


async def _send_everything(root: Services, spec: Spec, captured: Captured) -> None:
    from shared.incidents.notices import deliver
    from shared.incidents.operational import OperationalNotice, send_operational
    from tests.unit.incidents.conftest import incident

    scope = root.for_tenant(spec.tenant)
    inc, _ = await root.store().open_or_attach(
        incident(tenant_id=spec.tenant.tenant_id, incident_id=f"inc-{spec.tag}", deliveries={}), "timer"
    )
    for kind in KINDS:
        inc, report = await deliver(scope.notice_deps(), inc, kind)
        assert not report.failed, report
    notice = OperationalNotice("webex_authorization_expired", "The Webex authorization expired", ("Evidence: 400",))
    assert await send_operational(scope.operational_deps(), notice, once_key=f"ops-{spec.tag}")


def _check(specs: list[Spec], spec: Spec, sent: list[tuple[str, frozenset[str], str]]) -> None:
    from shared.core.action_links import LinkKeys, verify

    allowed = _allowed(spec)
    others = [o for o in specs if o is not spec]
    keys = LinkKeys.from_text(PROVIDER["ACTION_LINK_KEY"])
    assert sent, "every tenant's notices went somewhere (its webhook or the provider's PSA at least)"
    for channel, destinations, content in sent:
        assert destinations <= allowed[channel], (channel, destinations, allowed[channel])
        for other in others:
            for leak in (other.tenant.tenant_id, other.tag):  # its id (and consent URL), its name, org, channels
                assert leak not in content, (channel, leak)
        assert PROVIDER_TENANT not in content and "org-provider-0000" not in content
        for token in _link_tokens(content):
            assert verify(token, keys, now=_now()).tenant_id == spec.tenant.tenant_id
    webhook_docs = [json.loads(c) for ch, _, c in sent if ch == "webhook"]
    assert len(webhook_docs) == len(KINDS) + 1  # every notice reached the PSA (or the tenant's own webhook)
    for doc in webhook_docs:
        assert doc["tenant_id"] == spec.tenant.tenant_id and doc["webex_org_id"] == spec.tenant.webex_org_id
        assert f"Tenant-{spec.tag}" in doc["tenant_name"]


def _link_tokens(content: str) -> list[str]:
    import re

    return re.findall(r"/api/actions/([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)", content)


def _now() -> Any:
    from shared.core.clock import clock

    return clock.now()


async def _run(specs: list[Spec]) -> None:
    from shared.clients.table import Table
    from shared.notify.channels import EmailChannel, SendResult
    from tests.fakes.memtable import MemTable

    captured = Captured()
    root = Services(load_settings(PROVIDER), StorageConfig(connection_string="UseDevelopmentStorage=true"))
    table = MemTable("incidents")
    await table.create_table()
    root._table = Table(table)  # type: ignore[arg-type]
    root._http = httpx.AsyncClient(transport=httpx.MockTransport(captured.http))

    async def own_graph() -> Any:
        return type("G", (), {"client": object()})()  # the provider's mailbox; EmailChannel.send is caught below

    async def send_mail(channel: EmailChannel, rendered: Any, *, thread_ref: str | None = None) -> SendResult:
        content = f"{rendered.subject}\n{rendered.text}\n{rendered.html}"
        captured.sent.append(("email", frozenset(a.lower() for a in channel.to), content))
        return SendResult("email", ok=True, status=202, message_ref=f"<m{len(captured.sent)}@provider.example>")

    root.graph = own_graph  # type: ignore[method-assign]
    original = EmailChannel.send
    EmailChannel.send = send_mail  # type: ignore[assignment,method-assign]
    try:
        for spec in specs:
            captured.sent.clear()
            await _send_everything(root, spec, captured)
            _check(specs, spec, list(captured.sent))
    finally:
        EmailChannel.send = original  # type: ignore[method-assign]
        await root.aclose()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tenant_sets())
def test_no_notice_reaches_or_names_another_tenant(specs: list[Spec]) -> None:
    asyncio.run(_run(specs))


def test_two_tenants_sharing_a_contact_each_get_only_their_own_notice() -> None:
    """The case the property allows and this pins: one address on both tenants' lists receives two
    mails, each naming only its own tenant."""
    import uuid

    shared = "alice@shared.example"
    specs = []
    for text in ("11111111-2222-4333-8444-555555555555", "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"):
        uid = uuid.UUID(text)
        tag = uid.hex
        specs.append(Spec(make_tenant(str(uid), display_name=f"Tenant-{tag}", webex_org_id=f"org-{tag}",
                                      contacts=shared), tag))  # fmt: skip
    asyncio.run(_run(specs))
