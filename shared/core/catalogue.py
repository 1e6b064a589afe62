"""The allowlisted Webex apps and the admin-consent URL.

The consent URL is built only from this catalogue and the configured tenant id — never from text
that arrived in an event — so a forged audit record cannot make us send admins to another app.

"Cisco Webex Identity Integration" has one global appId (the multi-tenant app Webex reads the
directory through). "Cisco Webex Identity" is created in each tenant by the Control Hub wizard, so
its appId differs per tenant: it is recognised by the configured ``WEBEX_IDENTITY_APP_ID`` when set,
else by its exact display name, and its fix is to re-run the wizard (there is nothing to consent to).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urlencode

INTEGRATION_APP_ID = "90db942a-c1eb-4e8d-82e4-eebf64a7e2ae"
INTEGRATION_NAME = "Cisco Webex Identity Integration"
IDENTITY_APP_NAME = "Cisco Webex Identity"
WIZARD_HELP = "https://help.webex.com/en-us/article/heauzeb/Set-up-Azure-AD-Wizard-App-in-Control-Hub"
"""Webex's help article on the Control Hub wizard that creates both apps (notices and the prevention note)."""

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_TENANT_DOMAIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+$")


@dataclass(frozen=True, slots=True)
class WebexApp:
    """One app Webex directory sync needs.

    ``key`` is stable and safe in table keys and URLs; ``consentable`` says whether the admin-consent
    URL re-creates it (true for the multi-tenant integration only).
    """

    key: str
    display_name: str
    app_id: str | None
    consentable: bool


INTEGRATION = WebexApp("integration", INTEGRATION_NAME, INTEGRATION_APP_ID, consentable=True)


def is_guid(value: str | None) -> bool:
    return bool(value) and _GUID.fullmatch(value or "") is not None  # fullmatch: "$" would let a trailing "\n" in


def is_valid_tenant(value: str | None) -> bool:
    """A tenant id is a GUID or a verified domain (``contoso.onmicrosoft.com``)."""
    if not value or len(value) > 253:
        return False
    return is_guid(value) or _TENANT_DOMAIN.fullmatch(value) is not None


class Catalogue:
    """The apps this deployment watches. Built from settings; lookups are case-insensitive."""

    def __init__(self, identity_app_id: str | None = None) -> None:
        if identity_app_id is not None and not is_guid(identity_app_id):
            raise ValueError("identity app id must be a GUID")
        self.integration = INTEGRATION
        self.identity = WebexApp(
            "identity", IDENTITY_APP_NAME, identity_app_id.lower() if identity_app_id else None, consentable=False
        )
        self.apps: tuple[WebexApp, ...] = (self.integration, self.identity)
        self._by_id = {a.app_id.lower(): a for a in self.apps if a.app_id}
        # What :meth:`match` can match, as lower-case ASCII: a record whose text holds none of these
        # names no catalogue app (AuditRecord.may_mention).
        names = () if self.identity.app_id else (IDENTITY_APP_NAME.casefold(),)
        self.needles: tuple[bytes, ...] = tuple(n.encode("ascii") for n in (*self._by_id, *names))

    def by_key(self, key: str) -> WebexApp | None:
        for app in self.apps:
            if app.key == key:
                return app
        return None

    def by_app_id(self, app_id: str | None) -> WebexApp | None:
        if not app_id:
            return None
        return self._by_id.get(app_id.strip().lower())

    def by_display_name(self, name: str | None) -> WebexApp | None:
        """Exact name match, code point for code point (no trimming, no case folding: U+017F "ſ" or
        U+3000 padding make another name) — used only for the per-tenant Identity app, and only when
        its appId is not configured. The integration is matched by appId alone."""
        if not name or self.identity.app_id:
            return None
        if name == IDENTITY_APP_NAME:
            return self.identity
        return None

    def match(self, app_id: str | None, display_name: str | None) -> WebexApp | None:
        return self.by_app_id(app_id) or self.by_display_name(display_name)


DEFAULT_LOGIN_BASE = "https://login.microsoftonline.com"
"""Entra's sign-in host in the public cloud: ``ENTRA_LOGIN_BASE`` when it is not set (the base of
every consent URL; other clouds set their own)."""


def consent_url(app: WebexApp, tenant_id: str, login_base: str = DEFAULT_LOGIN_BASE) -> str | None:
    """The admin-consent URL for ``app`` in ``tenant_id``; ``None`` for apps consent cannot restore.

    ``tenant_id`` must come from settings (validated there); it is still checked here so this
    function cannot be turned into an open redirect by a caller passing event text.
    """
    if not app.consentable or not app.app_id:
        return None
    if app.app_id != INTEGRATION_APP_ID:
        return None
    return admin_consent_url(app.app_id, tenant_id, login_base)


def admin_consent_url(client_id: str, tenant_id: str, login_base: str = DEFAULT_LOGIN_BASE) -> str:
    """``{login_base}/{tenant}/adminconsent?client_id=…``: the page where ``tenant_id``'s admin grants
    the app ``client_id`` (a GUID) its permissions — the Webex integration's, or (provider mode) the
    provider's multi-tenant app's. Both values are checked: this must not become an open redirect."""
    if not is_guid(client_id):
        raise ValueError("client id must be a GUID")
    if tenant_id != "common" and not is_valid_tenant(tenant_id):  # "common": no tenant configured (docs/contracts.md)
        raise ValueError("tenant id must be a GUID or a domain name")
    base = login_base.rstrip("/")
    return f"{base}/{quote(tenant_id, safe='')}/adminconsent?{urlencode({'client_id': client_id})}"
