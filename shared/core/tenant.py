"""One customer tenant a provider deployment watches (``TENANCY_MODE=provider``), as a typed record.

A row of the tenants table (``TENANTS_TABLE``: PartitionKey ``tenant``, RowKey the tenant's GUID) is
read only through :func:`tenant_from_row`, which refuses what it cannot trust: a RowKey that is not a
GUID, a contact that is not an e-mail address, channels that are not a small JSON object of known
channel names to strings. A display name is data, kept inert: control characters become spaces and it
is cut to :data:`MAX_DISPLAY_NAME`; whoever shows it escapes it for its channel. No I/O here
(``shared.clients.tenants`` reads and writes the rows).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import SecretStr

from shared.core.catalogue import is_guid
from shared.core.settings import Settings

PARTITION = "tenant"
"""The tenants table's one partition (a few thousand rows: one query reads them all)."""

MAX_DISPLAY_NAME = 256
MAX_CONTACTS = 50
MAX_ADDRESS = 254
"""RFC 5321's limit on a forward path."""
MAX_CHANNELS_JSON = 8192
CHANNEL_NAMES = frozenset({"email", "teams", "webex", "webhook"})
MAX_ORG_ID = 200
WEBEX_AUTH_MODES = ("partner", "service_app")
"""How a tenant's Webex org is reached (docs/tenants.md, *Webex per tenant*): ``partner`` — the
deployment's own Webex credential (a partner administrator's, which reaches the customer orgs it
manages; today's behaviour); ``service_app`` — the provider's service app as authorized in the
customer's own org, its refresh token in Key Vault under a name derived from the tenant id."""


class TenantError(ValueError):
    """A tenant's value (from the CLI or from a row) that cannot be used; the message names the field."""


@dataclass(frozen=True, slots=True)
class Tenant:
    """A customer tenant: ``tenant_id`` is its lower-case GUID (the row key)."""

    tenant_id: str
    display_name: str = ""
    webex_org_id: str | None = None
    contacts: tuple[str, ...] = ()
    channels: Mapping[str, str] = field(default_factory=dict)
    enabled: bool = True
    onboarded_at: datetime | None = None
    webex_auth: str = "partner"  # one of WEBEX_AUTH_MODES


def tenant_guid(value: object) -> str:
    """``value`` as a tenant row key: a GUID, lower-case. A domain is refused (row keys are GUIDs)."""
    text = value.strip() if isinstance(value, str) else ""
    if not is_guid(text):
        raise TenantError("tenant id: must be the tenant's GUID (Entra admin center → Overview → Tenant ID)")
    return text.lower()


def inert_name(value: object) -> str:
    """A display name as data: control characters (incl. line breaks) become spaces, runs of spaces
    one, at most :data:`MAX_DISPLAY_NAME` characters. Markup stays text; renderers escape it."""
    text = value if isinstance(value, str) else ""
    flat = "".join(" " if (ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or c in "\u2028\u2029") else c for c in text)
    return " ".join(flat.split())[:MAX_DISPLAY_NAME]


def contact_addresses(value: object) -> tuple[str, ...]:
    """Contacts from ``a@x; b@y`` text or a list: each an e-mail address, at most :data:`MAX_CONTACTS`,
    duplicates (case-insensitive) dropped, order kept."""
    items = value.replace(";", ",").split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise TenantError("contacts: must be e-mail addresses separated by , or ;")
    seen: dict[str, str] = {}
    for item in items:
        address = item.strip() if isinstance(item, str) else None
        if address is None:
            raise TenantError("contacts: every contact must be text")
        if not address:
            continue
        if not _is_address(address):
            raise TenantError(f"contacts: not an e-mail address: {inert_name(address)[:80]!r}")
        seen.setdefault(address.lower(), address)
    if len(seen) > MAX_CONTACTS:
        raise TenantError(f"contacts: at most {MAX_CONTACTS}")
    return tuple(seen.values())


def _is_address(text: str) -> bool:
    local, at, domain = text.rpartition("@")
    return (
        bool(at and local and domain)
        and len(text) <= MAX_ADDRESS
        and "." in domain
        and not domain.startswith(".")
        and not domain.endswith(".")
        and all(c.isprintable() and c not in '<>()[]\\,;:" \t@' for c in domain)
        and all(c.isprintable() and c not in '<>()[]\\,;:" \t' for c in local)
    )


def channel_map(value: object) -> dict[str, str]:
    """Channels as a JSON object (text or already decoded) of known channel names to strings."""
    if isinstance(value, str):
        if len(value) > MAX_CHANNELS_JSON:
            raise TenantError(f"channels: at most {MAX_CHANNELS_JSON} characters of JSON")
        try:
            value = json.loads(value) if value.strip() else {}
        except (ValueError, RecursionError):
            raise TenantError("channels: not valid JSON") from None
    if not isinstance(value, Mapping):
        raise TenantError('channels: must be a JSON object, e.g. {"teams": "https://…"}')
    out: dict[str, str] = {}
    for key, item in value.items():
        if key not in CHANNEL_NAMES:
            known = ", ".join(sorted(CHANNEL_NAMES))
            raise TenantError(f"channels: unknown channel {inert_name(str(key))[:40]!r} ({known})")
        if not isinstance(item, str) or len(item) > 2048 or not item.isprintable():
            raise TenantError(f"channels: {key}: must be one line of text (at most 2048 characters)")
        if key == "email":
            contact_addresses(item)  # more addresses to write to: each must be one
        out[key] = item
    if len(json.dumps(out)) > MAX_CHANNELS_JSON:
        raise TenantError(f"channels: at most {MAX_CHANNELS_JSON} characters of JSON")
    return out


def org_id(value: object) -> str | None:
    """A Webex org id as :class:`~shared.core.settings.Settings` accepts ``WEBEX_ORG_ID``; empty: none."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > MAX_ORG_ID or any(c in text for c in "/?#\\ ") or not text.isprintable():
        raise TenantError("webex org id: must be the Webex organization id from Control Hub")
    return text


def webex_auth_mode(value: object) -> str:
    """A row's or the CLI's Webex mode (:data:`WEBEX_AUTH_MODES`); empty or absent: ``partner``."""
    if value is None or value == "":
        return "partner"
    if not isinstance(value, str) or value.strip().lower() not in WEBEX_AUTH_MODES:
        raise TenantError(f"webex auth: must be one of {', '.join(WEBEX_AUTH_MODES)}")
    return value.strip().lower()


def make_tenant(
    tenant_id: object,
    *,
    display_name: object = "",
    webex_org_id: object = None,
    contacts: object = (),
    channels: object = None,
    enabled: bool = True,
    onboarded_at: datetime | None = None,
    webex_auth: object = None,
) -> Tenant:
    """A checked :class:`Tenant` from untrusted values (CLI arguments); raises :class:`TenantError`."""
    return Tenant(
        tenant_id=tenant_guid(tenant_id),
        display_name=inert_name(display_name),
        webex_org_id=org_id(webex_org_id),
        contacts=contact_addresses(contacts),
        channels=channel_map({} if channels is None else channels),
        enabled=enabled,
        onboarded_at=onboarded_at,
        webex_auth=webex_auth_mode(webex_auth),
    )


def tenant_to_row(tenant: Tenant) -> dict[str, Any]:
    """The table row of ``tenant`` (contacts as ``;``-separated text, channels as JSON text)."""
    row: dict[str, Any] = {
        "PartitionKey": PARTITION,
        "RowKey": tenant.tenant_id,
        "display_name": tenant.display_name,
        "webex_org_id": tenant.webex_org_id or "",
        "contacts": ";".join(tenant.contacts),
        "channels": json.dumps(dict(tenant.channels), sort_keys=True),
        "enabled": tenant.enabled,
        "webex_auth": tenant.webex_auth,
    }
    if tenant.onboarded_at is not None:
        row["onboarded_at"] = tenant.onboarded_at
    return row


def tenant_from_row(row: Mapping[str, Any]) -> Tenant:
    """The :class:`Tenant` a row holds; :class:`TenantError` for a row written by hand that is wrong."""
    if row.get("PartitionKey") != PARTITION:
        raise TenantError("row: not in the tenants partition")
    enabled = row.get("enabled", True)
    if not isinstance(enabled, bool):
        raise TenantError("enabled: must be true or false")
    onboarded = row.get("onboarded_at")
    if onboarded is not None and not isinstance(onboarded, datetime):
        raise TenantError("onboarded_at: must be a date and time")
    return make_tenant(
        row.get("RowKey"),
        display_name=row.get("display_name", ""),
        webex_org_id=row.get("webex_org_id"),
        contacts=row.get("contacts", "") or "",
        channels=row.get("channels", "") or "",
        enabled=enabled,
        onboarded_at=onboarded,
        webex_auth=row.get("webex_auth"),
    )


def tenant_settings(settings: Settings, tenant: Tenant) -> Settings:
    """The deployment's settings as one customer tenant sees them (provider mode).

    Everything that names *whom* a notice reaches, or *which* directory and Webex org are looked at,
    is the tenant's own — never the provider's — so a tenant's notice cannot reach another tenant's
    people: ``TENANT_ID`` is the tenant, ``MAIL_TO`` its contacts (plus a ``email`` channel entry),
    Teams and the Webex room its channels or nothing. The generic webhook is the tenant's own if its
    row names one, else the provider's (a PSA or ticketing system that files tickets per tenant from
    the tenant fields the webhook carries). The Webex org is the tenant's; a tenant without one keeps
    the deployment's. Which Webex credential reaches the org is the row's ``webex_auth``
    (``shared.app.runtime.TenantServices.webex_auth``; docs/tenants.md).
    What the deployment owns — endpoints, the sender mailbox, secrets, schedules — stays as set.
    """
    extra = contact_addresses(tenant.channels.get("email", ""))
    contacts: dict[str, str] = {}
    for address in (*tenant.contacts, *extra):
        contacts.setdefault(address.lower(), address)  # the first spelling stays
    teams = tenant.channels.get("teams")
    update: dict[str, Any] = {
        "tenant_id": tenant.tenant_id,
        "webex_org_id": tenant.webex_org_id or settings.webex_org_id,
        "mail_to": tuple(contacts.values()),
        "teams_webhook_url": SecretStr(teams) if teams else None,
        "webex_room_id": tenant.channels.get("webex") or None,
        "notify_webhook_url": tenant.channels.get("webhook") or settings.notify_webhook_url,
        # Control Hub's wizard creates the Identity app in each customer tenant, under another appId in
        # each: found by name in the tenant and pinned in its partition, never the deployment's own.
        "webex_identity_app_id": None,
    }
    return settings.model_copy(update=update)
