"""The incident as every notice sees it: one flat, typed, read-only view.

Renderers only read this; they never see settings, storage rows or raw payloads. The view keeps the
line between trusted and untrusted data visible in its field comments: the app name and appId come
from the catalogue, the consent URL from the catalogue plus settings, the links and fix steps are
ours; ``activity``, ``initiator_label`` and ``target_object_id`` are event text and are escaped by
every renderer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from shared.core.catalogue import DEFAULT_LOGIN_BASE, WIZARD_HELP, WebexApp, consent_url, is_guid
from shared.core.models import Action, AuditRecord, Kind, TargetResource

ENTRA_ADMIN_CENTER = "https://entra.microsoft.com/"
_ENTERPRISE_APPS_VIEW = "#view/Microsoft_AAD_IAM/StartboardApplicationsMenuBlade/~/AppAppsPreview"
_AUDIT_LOG_VIEW = "#view/Microsoft_AAD_IAM/AuditLogList.ReactView"
ENTRA_ENTERPRISE_APPS = ENTRA_ADMIN_CENTER + _ENTERPRISE_APPS_VIEW
ENTRA_AUDIT_LOG = ENTRA_ADMIN_CENTER + _AUDIT_LOG_VIEW
CONTROL_HUB_SETTINGS = "https://admin.webex.com/settings"

CONTROL_HUB_ERROR = "Azure AD integration error. The request was unauthorized. Please sign out and try again."
IMPACT = (
    f'Control Hub shows "{CONTROL_HUB_ERROR}" and users and groups stop syncing from Microsoft Entra ID '
    "to Webex until this is fixed."
)

SoftOrHard = Literal["soft", "hard"]


class NoticeKind(StrEnum):
    """Which notice of an incident's life this is."""

    OPENED = "opened"  # the first notice
    REMINDER = "reminder"  # still broken
    RESOLVED = "resolved"  # fixed, with the time it took
    ESCALATED = "escalated"  # the deadline passed, still broken
    RESTORED = "restored"  # the project restored the app itself (opt-in AUTO_RESTORE), instead of "opened"


FOLLOW_UPS = frozenset({NoticeKind.REMINDER, NoticeKind.RESOLVED, NoticeKind.ESCALATED})
"""Notices that continue a conversation (a Webex thread reply) rather than start one. ``restored``
is not one: it replaces the opening notice of an auto-restored incident, so it carries the full
details (who deleted what, when) and later notices thread under it."""


@dataclass(frozen=True, slots=True)
class FixStep:
    """One thing an admin does. ``text`` is our plain text; ``url`` a trusted link for the step."""

    text: str
    url: str | None = None
    link_label: str | None = None


@dataclass(frozen=True, slots=True)
class Links:
    """Deep links shown in every notice (constants, never event text)."""

    enterprise_apps: str = ENTRA_ENTERPRISE_APPS
    audit_log: str = ENTRA_AUDIT_LOG
    control_hub_settings: str = CONTROL_HUB_SETTINGS
    wizard_help: str = WIZARD_HELP

    def all(self) -> tuple[str, ...]:
        return (self.enterprise_apps, self.audit_log, self.control_hub_settings, self.wizard_help)


def tenant_links(tenant_id: str) -> Links:
    """The Entra admin center links opened in ``tenant_id``'s directory (provider mode: the person
    who clicks may be a guest or a partner admin whose home tenant is another one).

    ``?tenant=<GUID>`` before the ``#view/…`` fragment makes the portal sign in to (or switch to) that
    directory before it opens the view (the form admins use to open the Entra admin center in a given
    tenant; docs/tenants.md). Only a GUID is put in a link; anything else keeps the plain links.
    """
    if not is_guid(tenant_id):
        return Links()
    base = f"{ENTRA_ADMIN_CENTER}?tenant={tenant_id.lower()}"
    return Links(enterprise_apps=base + _ENTERPRISE_APPS_VIEW, audit_log=base + _AUDIT_LOG_VIEW)


@dataclass(frozen=True, slots=True)
class NoticeTenant:
    """Which customer tenant a notice is about (provider mode), for every channel and the webhook:
    its id (the row key), its display name (DATA from the tenants table: escaped by every renderer)
    and its Webex org."""

    tenant_id: str
    display_name: str = ""
    webex_org_id: str | None = None


@dataclass(frozen=True, slots=True)
class IncidentView:
    """Everything a notice shows about one incident at one state change."""

    incident_id: str
    tenant_id: str  # settings (validated)
    notice: NoticeKind
    kind: Kind
    action: Action
    app_display_name: str  # catalogue
    app_id: str | None  # catalogue, never event text
    detected_at: datetime
    consent_url: str | None = None  # catalogue + settings (shared.core.catalogue.consent_url)
    fix_steps: tuple[FixStep, ...] = ()
    soft_or_hard: SoftOrHard | None = None
    activity: str | None = None  # UNTRUSTED event text
    initiator_label: str | None = None  # UNTRUSTED (UPN or app name)
    initiator_kind: str | None = None  # "user" | "app" | "unknown"
    event_time: datetime | None = None
    detected_by: tuple[str, ...] = ()
    target_object_id: str | None = None  # UNTRUSTED
    links: Links = field(default_factory=Links)
    time_to_recover: timedelta | None = None
    attempts: int = 0
    reason: str | None = None  # ours, e.g. why auto-restore was impossible
    webex_org_id: str | None = None  # settings
    check_now_url: str | None = None  # ours: a signed action link (https), or None when not offered
    acknowledge_url: str | None = None  # ours: a signed action link (https), or None when not offered
    tenant_name: str | None = None  # the tenants table's display name (provider mode): DATA, escaped

    @property
    def is_follow_up(self) -> bool:
        return self.notice in FOLLOW_UPS

    @property
    def consent_needed(self) -> bool:
        """Show the consent link: the fix is consent and the incident is still open."""
        return (
            self.consent_url is not None
            and self.action is Action.NOTIFY_CONSENT
            and self.notice in (NoticeKind.OPENED, NoticeKind.REMINDER, NoticeKind.ESCALATED)
        )

    @property
    def still_broken(self) -> bool:
        return self.notice in (NoticeKind.OPENED, NoticeKind.REMINDER, NoticeKind.ESCALATED)

    @property
    def short_what(self) -> str:
        """A few trusted words for subjects: "Cisco Webex Identity Integration deleted"."""
        verbs = {
            Kind.INTEGRATION_DELETED: "deleted",
            Kind.INTEGRATION_HARD_DELETED: "permanently deleted",
            Kind.IDENTITY_APP_DELETED: "deleted",
            Kind.INTEGRATION_DISABLED: "disabled",
            Kind.CONSENT_REVOKED: "consent revoked",
            Kind.INTEGRATION_RESTORED: "restored",
        }
        return f"{self.app_display_name} {verbs.get(self.kind, 'changed')}"

    @property
    def what_happened(self) -> str:
        """One trusted sentence about the app (catalogue name only)."""
        name = self.app_display_name
        sentences = {
            Kind.INTEGRATION_DELETED: f"The enterprise application “{name}” was deleted"
            + (" (soft delete: restorable for 30 days)" if self.soft_or_hard == "soft" else ""),
            Kind.INTEGRATION_HARD_DELETED: f"The enterprise application “{name}” was permanently deleted",
            Kind.IDENTITY_APP_DELETED: f"The enterprise application “{name}” was deleted",
            Kind.INTEGRATION_DISABLED: f"The enterprise application “{name}” was disabled for sign-in",
            Kind.CONSENT_REVOKED: f"Admin consent for “{name}” was revoked",
            Kind.INTEGRATION_RESTORED: f"The enterprise application “{name}” was restored",
        }
        return sentences.get(self.kind, f"A change to “{name}” was detected")


def fix_steps_for(
    action: Action, app_display_name: str, consent: str | None, links: Links | None = None
) -> tuple[FixStep, ...]:
    """The admin's steps for ``action`` (Cisco tech note on the "request was unauthorized" error,
    Webex help "Set up Azure AD Wizard App in Control Hub", Entra enterprise-app properties)."""
    links = links or Links()
    sync_on = FixStep(
        "In Control Hub → Management → Organization settings → Directory synchronization, make sure "
        "“Allow Azure AD sync” is on.",
        links.control_hub_settings,
        "Open Control Hub settings",
    )
    if action is Action.NOTIFY_CONSENT:
        return (
            FixStep(
                "Open the admin-consent link (a private browser window avoids the wrong account) and sign in as a "
                "Global Administrator, Privileged Role Administrator or Cloud Application Administrator of this "
                "tenant (Microsoft Graph application permissions need one of the first two).",
                consent,
                "Grant admin consent",
            ),
            FixStep(
                "Review the permissions and click Accept. The page shown afterwards may look like an error "
                "(there is no page to return to); that is expected — close the tab."
            ),
            FixStep(
                f"In the Microsoft Entra admin center → Enterprise applications, check that “{app_display_name}” "
                "is listed again.",
                links.enterprise_apps,
                "Open Enterprise applications",
            ),
            sync_on,
        )
    if action is Action.NOTIFY_REENABLE:
        return (
            FixStep(
                f"In the Microsoft Entra admin center → Enterprise applications, open “{app_display_name}” → "
                "Properties.",
                links.enterprise_apps,
                "Open Enterprise applications",
            ),
            FixStep("Set “Enabled for users to sign-in?” to Yes and click Save."),
            sync_on,
        )
    if action is Action.NOTIFY_REPROVISION:
        return (
            FixStep(
                "In Control Hub → Management → Organization settings → Directory synchronization, run the Azure AD "
                "(Entra ID) Wizard App set-up again (Set up / Edit); it re-creates “Cisco Webex Identity”.",
                links.control_hub_settings,
                "Open Control Hub settings",
            ),
            FixStep(
                "Sign in with an Entra administrator account when the wizard asks, and accept the permissions.",
                links.wizard_help,
                "Wizard set-up guide",
            ),
            FixStep(
                f"In the Microsoft Entra admin center → Enterprise applications, check that “{app_display_name}” "
                "is listed again.",
                links.enterprise_apps,
                "Open Enterprise applications",
            ),
            FixStep("Make sure “Allow Azure AD sync” is on in the same Directory synchronization page."),
        )
    return ()


def restored_steps(links: Links | None = None) -> tuple[FixStep, ...]:
    """What an admin still does after an automatic restore: find out why it was deleted."""
    links = links or Links()
    return (
        FixStep(
            "Nothing to fix: the app is back with its permissions. Find out who deleted it (Details below) and "
            "why; the app is required by Webex directory sync.",
            links.audit_log,
            "Open the Entra audit log",
        ),
        FixStep(
            "If the deletion was intended (the organization is leaving Webex directory sync), turn AUTO_RESTORE "
            "off before deleting the app again, or it is restored again."
        ),
        FixStep(
            "In Control Hub → Management → Organization settings → Directory synchronization, make sure "
            "“Allow Azure AD sync” is on.",
            links.control_hub_settings,
            "Open Control Hub settings",
        ),
    )


def _target(record: AuditRecord, app: WebexApp) -> TargetResource | None:
    for target in record.targets:
        if app.app_id and (target.app_id or "").lower() == app.app_id.lower():
            return target
    return record.targets[0] if record.targets else None


def build_view(
    *,
    incident_id: str,
    tenant_id: str,
    notice: NoticeKind,
    kind: Kind,
    action: Action,
    app: WebexApp,
    detected_at: datetime,
    login_base: str = DEFAULT_LOGIN_BASE,
    record: AuditRecord | None = None,
    detected_by: Iterable[str] = (),
    soft_or_hard: SoftOrHard | None = None,
    time_to_recover: timedelta | None = None,
    attempts: int = 0,
    reason: str | None = None,
    webex_org_id: str | None = None,
    links: Links | None = None,
    tenant_name: str | None = None,
) -> IncidentView:
    """Build the view from catalogue + settings values and (optionally) the audit record.

    The consent URL is computed here from ``app`` and ``tenant_id`` (pass ``settings.tenant_id`` and
    ``settings.entra_login_base``), so no caller can slip event text into it.
    """
    consent = consent_url(app, tenant_id, login_base)
    links = links or Links()
    if soft_or_hard is None:
        inferred: dict[Kind, SoftOrHard] = {Kind.INTEGRATION_DELETED: "soft", Kind.INTEGRATION_HARD_DELETED: "hard"}
        soft_or_hard = inferred.get(kind)
    target = _target(record, app) if record else None
    return IncidentView(
        incident_id=incident_id,
        tenant_id=tenant_id,
        notice=notice,
        kind=kind,
        action=action,
        app_display_name=app.display_name,
        app_id=app.app_id,
        detected_at=detected_at,
        consent_url=consent,
        fix_steps=fix_steps_for(action, app.display_name, consent, links),
        soft_or_hard=soft_or_hard,
        activity=record.activity if record else None,
        initiator_label=record.initiator.label if record else None,
        initiator_kind=record.initiator.kind if record else None,
        event_time=record.event_time if record else None,
        detected_by=tuple(str(s) for s in detected_by),
        target_object_id=target.id if target else None,
        time_to_recover=time_to_recover,
        attempts=attempts,
        reason=reason,
        webex_org_id=webex_org_id,
        links=links,
        tenant_name=tenant_name or None,
    )
