"""The simulated world: one Entra tenant, its Log Analytics workspace and one Webex org — and, on
demand, more tenants (``/_sim/tenants``), each a world of its own with its own service principals,
consent, audit log, delta and recycle bin, reached by the tenant of the bearer token.

Route handlers only translate HTTP to calls on :class:`SimState`; every rule about what a deletion,
a disable or a consent does lives here, so Graph, Log Analytics and Control Hub can never disagree
about the tenant. All access happens on the server's event loop, so there is no locking.
"""

from __future__ import annotations

import copy
import random
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from simulator.audit import Actor, AuditEntry, directory_audit, ingestion_time, prop
from simulator.controlhub import ControlHubStatus
from simulator.graph_behaviour import GraphBehaviour, RateWindow
from simulator.kqlcheck import QueryLimits
from simulator.timefmt import SimClock, graph_time, seconds_time

INTEGRATION_APP_ID = "90db942a-c1eb-4e8d-82e4-eebf64a7e2ae"
INTEGRATION_NAME = "Cisco Webex Identity Integration"
IDENTITY_NAME = "Cisco Webex Identity"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
MICROSOFT_TENANT = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
CISCO_TENANT = "1d2b9a43-7c15-4b1f-9f0e-3f7e0e6b7c11"  # stand-in for Cisco's home tenant
INTEGRATION_SCOPE = "User.Read User.Read.All Group.Read.All Directory.Read.All"
DEFAULT_ACTOR = "admin@contoso.onmicrosoft.com"
APPS = ("integration", "identity")


class NotFoundError(LookupError):
    """The object is not where the caller looked (Graph answers 404 Request_ResourceNotFound)."""


class ScenarioError(ValueError):
    """A scenario that cannot happen in this state (e.g. deleting an app that is already gone)."""


@dataclass(slots=True)
class SimConfig:
    """Identities the simulated tenant and org are built from (``/_sim/reset`` may override any)."""

    tenant_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    tenant_domain: str = "contoso.onmicrosoft.com"  # the tenant's initial domain (OpenID configuration)
    client_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    client_secret: str = field(default_factory=lambda: "sim~" + secrets.token_urlsafe(24))
    workspace_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    identity_app_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    org_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    webex_access_token: str = field(default_factory=lambda: "simwx-admin-" + secrets.token_urlsafe(24))
    webex_bot_token: str = field(default_factory=lambda: "simwx-bot-" + secrets.token_urlsafe(24))
    room_id: str = field(default_factory=lambda: "Y2lzY29zcGFyazovL3VzL1JPT00v" + uuid.uuid4().hex)
    webex_client_id: str = field(default_factory=lambda: "C" + secrets.token_hex(32))
    webex_client_secret: str = field(default_factory=lambda: secrets.token_hex(32))
    webex_refresh_token: str = field(default_factory=lambda: "simwx-refresh-" + secrets.token_urlsafe(32))
    provider_client_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    """The provider's multi-tenant app (``PROVIDER_APP_CLIENT_ID``): consented in every extra tenant."""
    ingestion_delay_seconds: float = 0.0
    seed: int | None = None

    OVERRIDABLE = (
        "tenant_id",
        "tenant_domain",
        "client_id",
        "client_secret",
        "workspace_id",
        "identity_app_id",
        "org_id",
        "webex_access_token",
        "webex_bot_token",
        "room_id",
        "webex_client_id",
        "webex_client_secret",
        "webex_refresh_token",
        "provider_client_id",
        "ingestion_delay_seconds",
        "seed",
    )

    def webex_tokens(self) -> set[str]:
        return {self.webex_access_token, self.webex_bot_token}


@dataclass(slots=True)
class WebexTokenPolicy:
    """How the simulated Webex token endpoint behaves (``/_sim/webex/tokens`` changes it).

    Lifetimes are measured on the simulator clock, so advancing it expires tokens. Real Webex access
    tokens of service apps live about 14 days and refresh tokens 90 days (renewed while used);
    ``rotate`` makes every refresh hand out a new refresh token and retire the old one.
    """

    access_lifetime: int = 14 * 24 * 3600
    refresh_lifetime: int = 90 * 24 * 3600
    rotate: bool = False
    echo_form: bool = False
    """A hostile or broken token endpoint: its refusals echo the form they received (client
    secret and refresh token included) in the error message and ``error_description``."""


@dataclass(slots=True)
class Deleted:
    """A soft-deleted service principal and the grants (delegated, and app roles it held) a
    restore brings back."""

    sp: dict[str, Any]
    grants: list[dict[str, Any]]
    app_roles: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class TokenInfo:
    scope: str
    client_id: str
    issued: datetime
    tenant: str = ""
    """The tenant GUID the token was issued in (its ``tid``); Graph serves that tenant's world."""


@dataclass(slots=True)
class TenantThrottle:
    """A tenant whose Graph calls answer 429 until ``until`` (simulator clock): all calls, or only
    ``auditLogs/*`` (``scope="audit"``)."""

    until: datetime
    scope: str = "all"


def _org_b64(org_id: str) -> str:
    """Webex API ids are base64 of ``ciscospark://us/ORGANIZATION/<uuid>``."""
    import base64

    return base64.b64encode(f"ciscospark://us/ORGANIZATION/{org_id}".encode()).decode().rstrip("=")


def _as_list(value: Any) -> list[Any]:
    """Audit ``oldValue``/``newValue`` always encode a list (``[]`` for nothing)."""
    if isinstance(value, list):
        return value
    return [] if value is None else [value]


class SimState:
    """Mutable simulated state plus the scenario operations."""

    def __init__(
        self, config: SimConfig | None = None, *, clock: SimClock | None = None, parent: SimState | None = None
    ) -> None:
        self.parent = parent  # set on an extra tenant's world: clock, outbox and recording are the root's
        shared: SimClock | None = parent.clock if parent is not None else None
        self.clock: SimClock = clock or shared or SimClock()
        self.config = config or SimConfig()
        self.tokens: dict[str, TokenInfo] = {}
        self.requests: list[dict[str, Any]] = []
        self.request_seq = 0
        self.faults: list[Any] = []  # simulator.faults.Fault; typed there to keep this module HTTP-free
        self.held: list[Any] = []  # faults whose call is held (simulator.faults.hold_request)
        self.reset()

    # ---------------------------------------------------------------- setup
    def reset(self, overrides: dict[str, Any] | None = None) -> None:
        """Back to the healthy starting tenant; ``overrides`` replaces :class:`SimConfig` fields."""
        overrides = overrides or {}
        unknown = set(overrides) - set(SimConfig.OVERRIDABLE)
        if unknown:
            raise ScenarioError(f"unknown reset option(s): {', '.join(sorted(unknown))}")
        base = SimConfig()
        # Identities survive a reset unless overridden: clients already hold the env from start().
        for name in SimConfig.OVERRIDABLE:
            setattr(base, name, overrides.get(name, getattr(self.config, name)))
        base.ingestion_delay_seconds = float(overrides.get("ingestion_delay_seconds", 0.0))
        self.config = base
        self.rng = random.Random(base.seed) if base.seed is not None else random.Random()
        if self.parent is None:
            self.clock.reset()
        self.tenants: dict[str, SimState] = {}  # extra tenants by lower-case GUID (root only)
        self.tenant_throttles: dict[str, TenantThrottle] = {}  # root only
        self.audit_app_windows: dict[str, RateWindow] = {}  # client id -> auditLogs requests, all tenants
        self.assertions: list[dict[str, Any]] = []  # client assertions the token endpoint accepted (claims)
        self.provider_consented = True  # the provider's app holds admin consent in this tenant
        self.service_principals: dict[str, dict[str, Any]] = {}
        self.deleted: dict[str, Deleted] = {}
        self.grants: dict[str, dict[str, Any]] = {}
        self.app_role_assignments: dict[str, dict[str, Any]] = {}  # application permissions, none by default
        # Owners per service principal object id (GET /servicePrincipals/{id}/owners). The wizard's
        # Integration creates the Identity app with Application.ReadWrite.OwnedBy, so it owns it; an
        # app a user registers is owned by that user.
        self.owners: dict[str, list[dict[str, Any]]] = {}
        self.audits: list[AuditEntry] = []
        self.changes: list[tuple[int, str]] = []
        self.change_seq = 0
        self.mails: list[dict[str, Any]] = []
        self.webex_messages: list[dict[str, Any]] = []
        self.teams_posts: list[dict[str, Any]] = []  # simulator.receivers
        self.webhook_posts: list[dict[str, Any]] = []
        self.la_queries: list[dict[str, Any]] = []
        self.la_limits = QueryLimits()  # simulator.kqlcheck: partial results on demand
        self.webex_policy = WebexTokenPolicy()
        self.status_call = ControlHubStatus(self.clock.now())  # simulator.controlhub: the status call's mode
        self.webex_access_tokens: dict[str, datetime] = {}
        self.webex_refresh_tokens: dict[str, datetime] = {
            self.config.webex_refresh_token: self.clock.now() + timedelta(seconds=self.webex_policy.refresh_lifetime)
        }
        self.vault: dict[str, list[dict[str, Any]]] = {}
        self.last_sync = self.clock.now()
        self.graph_behaviour = GraphBehaviour()  # simulator.graph_behaviour: limits, delays, partial restores
        self.audit_windows: dict[str, RateWindow] = {}  # client id -> auditLogRoot requests
        self.delta_epoch = 0  # delta links issued before the last /_sim/graph/expire-delta are dead
        self.audit_visible_at: dict[str, datetime] = {}  # record id -> when directoryAudits lists it
        self.replicating: dict[str, tuple[datetime, Deleted]] = {}  # restored SP id -> (reads see it at, old view)
        if self.parent is None:
            self.requests.clear()
            self.faults.clear()
        else:
            self._share_outbox(self.parent)
        graph = self._new_sp(GRAPH_APP_ID, "Microsoft Graph", MICROSOFT_TENANT)
        self.graph_sp_id = graph["id"]
        self._add_sp(graph)
        integration = self._new_sp(INTEGRATION_APP_ID, INTEGRATION_NAME, CISCO_TENANT)
        self._add_sp(integration)
        self._grant(integration["id"])
        identity = self._new_sp(self.config.identity_app_id, IDENTITY_NAME, self.config.tenant_id)
        self._add_sp(identity)
        self.owners[identity["id"]] = [self._sp_owner(integration)]

    def _share_outbox(self, root: SimState) -> None:
        """What an extra tenant's world sends (mail, messages, posts) lands in the root's lists."""
        self.mails = root.mails
        self.webex_messages = root.webex_messages
        self.teams_posts = root.teams_posts
        self.webhook_posts = root.webhook_posts

    # ---------------------------------------------------------------- tenants
    def add_tenant(self, tenant_id: str | None = None, tenant_domain: str | None = None) -> SimState:
        """A new healthy tenant (its own Webex org and identities), the provider's app consented."""
        if self.parent is not None:
            raise ScenarioError("tenants are added to the simulator, not to a tenant")
        tid = (tenant_id or self._uuid()).lower()
        if not tid or len(tid) > 64 or tid in self.tenants or tid == self.config.tenant_id.lower():
            raise ScenarioError(f"tenant {tid[:64]!r} exists already or is not a valid id")
        domain = tenant_domain or f"tenant-{tid[:8]}.onmicrosoft.com"
        config = SimConfig(tenant_id=tid, tenant_domain=domain, client_id=self.config.client_id)
        config.client_secret = self.config.client_secret
        config.provider_client_id = self.config.provider_client_id
        config.seed = self.rng.getrandbits(32) if self.config.seed is not None else None
        world = SimState(config, parent=self)
        self.tenants[tid] = world
        return world

    def remove_tenant(self, tenant_id: str) -> None:
        if self.tenants.pop(tenant_id.lower(), None) is None:
            raise NotFoundError(tenant_id)
        self.tenant_throttles.pop(tenant_id.lower(), None)

    def world(self, tenant: str | None) -> SimState:
        """The world of a tenant (GUID or initial domain); the default tenant for ``None``/empty."""
        if not tenant or tenant.lower() in (self.config.tenant_id.lower(), self.config.tenant_domain.lower()):
            return self
        key = tenant.lower()
        found = self.tenants.get(key) or next(
            (w for w in self.tenants.values() if w.config.tenant_domain.lower() == key), None
        )
        if found is None:
            raise NotFoundError(tenant)
        return found

    def throttle_tenant(self, tenant_id: str, seconds: float, scope: str = "all") -> TenantThrottle:
        """Graph answers this tenant's calls with 429 for ``seconds`` (e.g. 600), ``Retry-After`` the rest."""
        if scope not in ("all", "audit"):
            raise ScenarioError("scope must be 'all' or 'audit'")
        if not 0 < seconds <= 86400:
            raise ScenarioError("seconds must be more than 0 and at most 86400")
        tid = self.world(tenant_id).config.tenant_id.lower()
        throttle = TenantThrottle(self.clock.now() + timedelta(seconds=seconds), scope)
        self.tenant_throttles[tid] = throttle
        return throttle

    def throttled_for(self, tenant_id: str, audit: bool) -> float | None:
        """Seconds this tenant is still throttled for such a call, ``None`` when it is not."""
        throttle = self.tenant_throttles.get(tenant_id.lower())
        if throttle is None or (throttle.scope == "audit" and not audit):
            return None
        left = (throttle.until - self.clock.now()).total_seconds()
        return left if left > 0 else None

    def describe_tenant(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "tenant_id": cfg.tenant_id,
            "tenant_domain": cfg.tenant_domain,
            "org_id": cfg.org_id,
            "identity_app_id": cfg.identity_app_id,
            "webex_access_token": cfg.webex_access_token,
            "provider_consented": self.provider_consented,
            "integration_healthy": self.integration_healthy(),
        }

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _new_sp(self, app_id: str, name: str, owner: str) -> dict[str, Any]:
        return {
            "id": self._uuid(),
            "deletedDateTime": None,
            "accountEnabled": True,
            "appDisplayName": name,
            "appId": app_id,
            "appOwnerOrganizationId": owner,
            "appRoleAssignmentRequired": False,
            "displayName": name,
            "notes": None,
            "servicePrincipalNames": [app_id],
            "servicePrincipalType": "Application",
            "signInAudience": "AzureADMultipleOrgs",
            "tags": ["WindowsAzureActiveDirectoryIntegratedApp"],
        }

    @staticmethod
    def _sp_owner(sp: dict[str, Any]) -> dict[str, Any]:
        return {
            "@odata.type": "#microsoft.graph.servicePrincipal",
            "id": sp["id"],
            "appId": sp["appId"],
            "displayName": sp["displayName"],
            "appOwnerOrganizationId": sp["appOwnerOrganizationId"],
        }

    def _user_owner(self, upn: str) -> dict[str, Any]:
        return {"@odata.type": "#microsoft.graph.user", "id": self._uuid(), "userPrincipalName": upn}

    def owners_of(self, sp_id: str) -> list[dict[str, Any]]:
        return list(self.owners.get(self.get_sp(sp_id)["id"], []))

    def _add_sp(self, sp: dict[str, Any]) -> None:
        self.service_principals[sp["id"]] = sp
        self._changed(sp["id"])

    def _changed(self, sp_id: str) -> None:
        self.change_seq += 1
        self.changes.append((self.change_seq, sp_id))

    def _grant(self, client_id: str) -> dict[str, Any]:
        grant = {
            "id": secrets.token_urlsafe(32)[:43],
            "clientId": client_id,
            "consentType": "AllPrincipals",
            "principalId": None,
            "resourceId": self.graph_sp_id,
            "scope": INTEGRATION_SCOPE,
        }
        self.grants[grant["id"]] = grant
        return grant

    # ---------------------------------------------------------------- lookups
    def app_id_of(self, app: str) -> str:
        if app == "integration":
            return INTEGRATION_APP_ID
        if app == "identity":
            return self.config.identity_app_id
        raise ScenarioError(f"unknown app {app!r}: use 'integration' or 'identity'")

    def app_name_of(self, app: str) -> str:
        return INTEGRATION_NAME if app == "integration" else IDENTITY_NAME

    def sp_by_app(self, app: str) -> dict[str, Any] | None:
        app_id = self.app_id_of(app).lower()
        return next((sp for sp in self.service_principals.values() if sp["appId"].lower() == app_id), None)

    def deleted_by_app(self, app: str) -> Deleted | None:
        app_id = self.app_id_of(app).lower()
        found = [d for d in self.deleted.values() if d.sp["appId"].lower() == app_id]
        return found[-1] if found else None

    def get_sp(self, sp_id: str) -> dict[str, Any]:
        sp = self.service_principals.get(sp_id.lower())
        if sp is None:
            raise NotFoundError(sp_id)
        return sp

    def grants_of(self, sp_id: str) -> list[dict[str, Any]]:
        return [g for g in self.grants.values() if g["clientId"] == sp_id]

    def app_roles_of(self, sp_id: str) -> list[dict[str, Any]]:
        """App role assignments held BY the service principal (its application permissions)."""
        return [a for a in self.app_role_assignments.values() if a["principalId"] == sp_id]

    def assign_app_role(self, app: str, app_role_id: str | None, actor: Actor) -> dict[str, Any]:
        """Grant the app an application permission on Microsoft Graph (an app role assignment),
        audited as "Add app role assignment to service principal"."""
        sp = self.sp_by_app(app)
        if sp is None:
            raise ScenarioError(f"{app} service principal is not present")
        role = app_role_id or "df021288-bdef-4463-88db-98f22de89214"  # User.Read.All (application)
        assignment = {
            "id": secrets.token_urlsafe(32)[:43],
            "deletedDateTime": None,
            "appRoleId": role,
            "createdDateTime": seconds_time(self.clock.now()),
            "principalDisplayName": sp["displayName"],
            "principalId": sp["id"],
            "principalType": "ServicePrincipal",
            "resourceDisplayName": "Microsoft Graph",
            "resourceId": self.graph_sp_id,
        }
        self.app_role_assignments[assignment["id"]] = assignment
        modified = [
            prop("AppRole.Id", [], [role]),
            prop("AppRole.Value", [], ["User.Read.All"]),
            prop("ServicePrincipal.ObjectID", [], [sp["id"]]),
            prop("ServicePrincipal.AppId", [], [sp["appId"]]),
        ]
        self._audit("Add app role assignment to service principal", "Assign", sp, modified, actor)
        return assignment

    def integration_healthy(self) -> bool:
        """What Control Hub's status call reflects: the integration SP exists, is enabled and holds
        its admin-consented grant."""
        sp = self.sp_by_app("integration")
        return bool(sp and sp["accountEnabled"] and self.grants_of(sp["id"]))

    def synced_at(self) -> datetime:
        """When Webex last synced from Entra: continuously while the integration works, frozen at
        the last good moment while it is broken (what a synced user's ``meta.lastModified`` shows)."""
        if self.integration_healthy():
            self.last_sync = self.clock.now()
        return self.last_sync

    # ---------------------------------------------------------------- audit
    def remediator_actor(self) -> Actor:
        """The project's own app identity, as audit records show an app-initiated change."""
        return Actor(app_id=self.config.client_id, app_name="Webex sync remediator", sp_id=None)

    def _audit(
        self,
        activity: str,
        operation_type: str,
        sp: dict[str, Any],
        modified: list[dict[str, Any]],
        actor: Actor,
        *,
        correlation_id: str | None = None,
    ) -> dict[str, Any]:
        when = self.clock.now()
        rec = directory_audit(
            activity=activity,
            operation_type=operation_type,
            when=when,
            tenant_id=self.config.tenant_id,
            actor=actor,
            target_id=sp["id"],
            target_name=sp["displayName"],
            app_id=sp["appId"],
            modified=modified,
            rng=self.rng,
            correlation_id=correlation_id,
        )
        self.audits.append(AuditEntry(rec, when, ingestion_time(when, self.config.ingestion_delay_seconds)))
        self._arrives(rec, when)
        return rec

    def _arrives(self, rec: dict[str, Any], when: datetime) -> None:
        """When ``directoryAudits`` starts listing ``rec`` (simulator.graph_behaviour: audit latency)."""
        delay = self.graph_behaviour.delay(self.rng)
        if delay > 0:
            self.audit_visible_at[rec["id"]] = when + timedelta(seconds=delay)

    def graph_audits(self) -> list[dict[str, Any]]:
        """The records ``directoryAudits`` lists now: late ones only once they arrived."""
        now = self.clock.now()
        return [e.record for e in self.audits if self.audit_visible_at.get(e.record["id"], e.activity_time) <= now]

    @staticmethod
    def _sp_properties(sp: dict[str, Any], removing: bool) -> list[dict[str, Any]]:
        before: list[Any] | None
        values = {
            "AccountEnabled": [sp["accountEnabled"]],
            "AppPrincipalId": [sp["appId"]],
            "DisplayName": [sp["displayName"]],
            "ServicePrincipalName": list(sp["servicePrincipalNames"]),
        }
        out = []
        for name, value in values.items():
            before, after = (value, []) if removing else ([], value)
            out.append(prop(name, before, after))
        out.append(
            {"displayName": "Included Updated Properties", "oldValue": None, "newValue": '"' + ", ".join(values) + '"'}
        )
        return out

    # ---------------------------------------------------------------- scenarios
    def delete(
        self, app: str, hard: bool = False, actor: Actor | None = None, sp_id: str | None = None
    ) -> list[dict[str, Any]]:
        """An admin deletes the app's enterprise application: soft (to the recycle bin, restorable
        30 days) or hard (soft, then purged). Grants go with it; Control Hub turns 401/701018.
        ``sp_id``: any other service principal instead (a look-alike), soft-deleted."""
        actor = actor or Actor(upn=DEFAULT_ACTOR)
        if sp_id is not None:
            return [self._soft_delete(self.get_sp(sp_id), actor)]
        records: list[dict[str, Any]] = []
        sp = self.sp_by_app(app)
        if sp is not None:
            records.append(self._soft_delete(sp, actor))
        elif not hard or self.deleted_by_app(app) is None:
            raise ScenarioError(f"{app} service principal is not present")
        if hard:
            gone = self.deleted_by_app(app)
            assert gone is not None
            records.append(self._purge(gone.sp["id"], actor))
        return records

    def _soft_delete(self, sp: dict[str, Any], actor: Actor) -> dict[str, Any]:
        grants = self.grants_of(sp["id"])
        for g in grants:
            del self.grants[g["id"]]
        roles = self.app_roles_of(sp["id"])
        for a in roles:
            del self.app_role_assignments[a["id"]]
        del self.service_principals[sp["id"]]
        gone = copy.deepcopy(sp)
        gone["deletedDateTime"] = seconds_time(self.clock.now())
        self.deleted[sp["id"]] = Deleted(gone, grants, roles)
        self._changed(sp["id"])
        return self._audit("Delete service principal", "Delete", sp, self._sp_properties(sp, removing=True), actor)

    def _purge(self, sp_id: str, actor: Actor) -> dict[str, Any]:
        gone = self.deleted.pop(sp_id)
        self._changed(sp_id)
        return self._audit("Hard delete service principal", "Delete", gone.sp, [], actor)

    def purge(self, sp_id: str, actor: Actor) -> dict[str, Any]:
        """Permanently delete an object from the recycle bin."""
        if sp_id.lower() not in self.deleted:
            raise NotFoundError(sp_id)
        return self._purge(sp_id.lower(), actor)

    def set_enabled(self, app: str, enabled: bool, actor: Actor | None = None) -> dict[str, Any]:
        sp = self.sp_by_app(app)
        if sp is None:
            raise ScenarioError(f"{app} service principal is not present")
        return self.update_sp(sp["id"], {"accountEnabled": enabled}, actor or Actor(upn=DEFAULT_ACTOR))

    def update_sp(self, sp_id: str, changes: dict[str, Any], actor: Actor) -> dict[str, Any]:
        """PATCH semantics; one "Update service principal" record naming the changed properties."""
        sp = self.get_sp(sp_id)
        names = {"accountEnabled": "AccountEnabled", "notes": "Notes", "tags": "Tags"}
        modified: list[dict[str, Any]] = []
        for key, value in changes.items():
            if key not in names:
                raise ScenarioError(f"Property '{key}' cannot be updated by the simulator")
            if key == "accountEnabled" and not isinstance(value, bool):
                raise ScenarioError("accountEnabled must be a boolean")
            old = sp[key]
            if old == value:
                continue
            sp[key] = value
            modified.append(prop(names[key], _as_list(old), _as_list(value)))
        if not modified:
            return {}
        modified.append(
            {
                "displayName": "Included Updated Properties",
                "oldValue": None,
                "newValue": '"' + ", ".join(m["displayName"] for m in modified) + '"',
            }
        )
        self._changed(sp["id"])
        return self._audit("Update service principal", "Update", sp, modified, actor)

    def consent(self, actor: Actor | None = None, app: str = "integration") -> list[dict[str, Any]]:
        """Admin consent (or, for the Identity app, re-running the Control Hub wizard).

        A missing SP is re-created with a NEW object id (the recycle-bin copy stays where it is);
        an existing one only gets its grant back. Disabled stays disabled: consent does not enable.
        """
        actor = actor or Actor(upn=DEFAULT_ACTOR)
        records: list[dict[str, Any]] = []
        correlation = self._uuid()
        sp = self.sp_by_app(app)
        if sp is None:
            owner = CISCO_TENANT if app == "integration" else self.config.tenant_id
            sp = self._new_sp(self.app_id_of(app), self.app_name_of(app), owner)
            self._add_sp(sp)
            records.append(
                self._audit(
                    "Add service principal",
                    "Add",
                    sp,
                    self._sp_properties(sp, removing=False),
                    actor,
                    correlation_id=correlation,
                )
            )
        if app == "integration" and not self.grants_of(sp["id"]):
            grant = self._grant(sp["id"])
            records.append(self._consent_record(sp, grant, actor, correlation))
        return records

    def _consent_record(self, sp: dict[str, Any], grant: dict[str, Any], actor: Actor, corr: str) -> dict[str, Any]:
        permissions = (
            f"[] => [[Id: {grant['id']}, ClientId: {sp['id']}, PrincipalId: , ResourceId: {grant['resourceId']}, "
            f"ConsentType: AllPrincipals, Scope: {grant['scope']}, CreatedDateTime: , LastModifiedDateTime ]]; "
        )
        modified = [
            {"displayName": "ConsentContext.IsAdminConsent", "oldValue": None, "newValue": '"True"'},
            {"displayName": "ConsentContext.IsAppOnly", "oldValue": None, "newValue": '"False"'},
            {"displayName": "ConsentContext.OnBehalfOfAll", "oldValue": None, "newValue": '"True"'},
            {
                "displayName": "ConsentContext.Tags",
                "oldValue": None,
                "newValue": '"WindowsAzureActiveDirectoryIntegratedApp"',
            },
            {"displayName": "ConsentAction.Permissions", "oldValue": None, "newValue": '"' + permissions + '"'},
            {"displayName": "TargetId.ServicePrincipalNames", "oldValue": None, "newValue": f'"{sp["appId"]}"'},
        ]
        return self._audit("Consent to application", "Assign", sp, modified, actor, correlation_id=corr)

    def revoke(self, actor: Actor | None = None) -> list[dict[str, Any]]:
        """An admin removes the integration's delegated grant (the SP stays): consent is revoked."""
        actor = actor or Actor(upn=DEFAULT_ACTOR)
        sp = self.sp_by_app("integration")
        if sp is None or not self.grants_of(sp["id"]):
            raise ScenarioError("integration holds no grant to revoke")
        records = []
        for grant in self.grants_of(sp["id"]):
            del self.grants[grant["id"]]
            modified = [
                prop("DelegatedPermissionGrant.Scope", [grant["scope"]], []),
                prop("DelegatedPermissionGrant.ConsentType", ["AllPrincipals"], []),
                prop("ServicePrincipal.ObjectID", [sp["id"]], []),
                prop("ServicePrincipal.AppId", [sp["appId"]], []),
            ]
            records.append(self._audit("Remove delegated permission grant", "Unassign", sp, modified, actor))
        return records

    def add_service_principal(
        self,
        display_name: str,
        app_id: str | None = None,
        actor: Actor | None = None,
        *,
        owner_org: str | None = None,
        by_integration: bool = False,
    ) -> dict[str, Any]:
        """Another enterprise app appears in the tenant (a look-alike, a second wizard run): any
        name, a new appId unless given. Registered in this tenant and owned by the actor, unless
        ``owner_org`` (a multi-tenant app of another organization, consented to here) or
        ``by_integration`` (created by the wizard's Integration, which then owns it). "Add service
        principal" is audited as Entra does."""
        if not display_name.strip() or len(display_name) > 256:
            raise ScenarioError("display_name must be 1-256 characters")
        sp = self._new_sp(app_id or self._uuid(), display_name, owner_org or self.config.tenant_id)
        self._add_sp(sp)
        integration = self.sp_by_app("integration")
        if by_integration and integration is not None:
            self.owners[sp["id"]] = [self._sp_owner(integration)]
        elif owner_org is None:
            self.owners[sp["id"]] = [self._user_owner((actor or Actor(upn=DEFAULT_ACTOR)).upn or DEFAULT_ACTOR)]
        self._audit(
            "Add service principal",
            "Add",
            sp,
            self._sp_properties(sp, removing=False),
            actor or Actor(upn=DEFAULT_ACTOR),
        )
        return sp

    def record_activity(self, activity: str, app: str | None, actor: Actor) -> dict[str, Any]:
        """Something else happening in the tenant, audited but changing nothing here: about the
        app's service principal when ``app`` is given (e.g. "Add owner to service principal"), else
        about a user ("Update user"). The audit log is mostly such records; the poll must skip them."""
        if not activity.strip() or len(activity) > 200:
            raise ScenarioError("activity must be a non-empty name")
        if app is not None:
            sp = self.sp_by_app(app)
            if sp is None:
                raise ScenarioError(f"{app} service principal is not present")
            return self._audit(activity, "Update", sp, [], actor)
        when = self.clock.now()
        rec = directory_audit(
            activity=activity,
            operation_type="Update",
            when=when,
            tenant_id=self.config.tenant_id,
            actor=actor,
            target_id=self._uuid(),
            target_name="Adele Vance",
            app_id="",
            modified=[prop("Department", ["Sales"], ["Marketing"])],
            rng=self.rng,
            target_type="User",
        )
        rec["category"] = "UserManagement"
        self.audits.append(AuditEntry(rec, when, ingestion_time(when, self.config.ingestion_delay_seconds)))
        self._arrives(rec, when)
        return rec

    def restore(self, sp_id: str, actor: Actor) -> dict[str, Any]:
        """Graph restore: back into servicePrincipals with the SAME id; the grants and app role
        assignments come back only as :class:`GraphBehaviour` says, and reads see the restore only
        after its replication lag (both undocumented: simulator.graph_behaviour)."""
        gone = self.deleted.pop(sp_id.lower(), None)
        if gone is None:
            raise NotFoundError(sp_id)
        key = self._app_key(gone.sp["appId"])
        if key is not None and self.sp_by_app(key) is not None:
            self.deleted[gone.sp["id"]] = gone
            raise ScenarioError("A service principal with the same appId already exists")
        sp = copy.deepcopy(gone.sp)
        sp["deletedDateTime"] = None
        self._add_sp(sp)
        behaviour = self.graph_behaviour
        for g in gone.grants if behaviour.restore_grants else []:
            self.grants[g["id"]] = g
        for a in gone.app_roles if behaviour.restore_app_roles else []:
            self.app_role_assignments[a["id"]] = a
        if behaviour.restore_lag_seconds > 0:
            until = self.clock.now() + timedelta(seconds=behaviour.restore_lag_seconds)
            self.replicating[sp["id"]] = (until, gone)
        self._audit("Restore service principal", "Update", sp, self._sp_properties(sp, removing=False), actor)
        return sp

    # ---------------------------------------------------------------- reads (replication lag)
    def _lagging(self) -> dict[str, Deleted]:
        """Restored service principals that reads still see as deleted (their pre-restore view)."""
        now = self.clock.now()
        for sp_id in [k for k, (until, _) in self.replicating.items() if until <= now]:
            del self.replicating[sp_id]
        return {k: gone for k, (_, gone) in self.replicating.items()}

    def read_service_principals(self) -> list[dict[str, Any]]:
        lag = self._lagging()
        return [sp for sp in self.service_principals.values() if sp["id"] not in lag]

    def read_sp(self, sp_id: str) -> dict[str, Any]:
        if sp_id.lower() in self._lagging():
            raise NotFoundError(sp_id)
        return self.get_sp(sp_id)

    def read_deleted(self) -> list[Deleted]:
        lag = self._lagging()
        return [*self.deleted.values(), *(g for k, g in lag.items() if k not in self.deleted)]

    def read_grants(self) -> list[dict[str, Any]]:
        lag = self._lagging()
        return [g for g in self.grants.values() if g["clientId"] not in lag]

    def _app_key(self, app_id: str) -> str | None:
        for app in APPS:
            if self.app_id_of(app).lower() == app_id.lower():
                return app
        return None

    # ---------------------------------------------------------------- Webex service-app tokens
    def webex_token_valid(self, token: str | None) -> bool:
        """A static token from the config, or a service-app access token not yet expired."""
        if not token:
            return False
        if token in self.config.webex_tokens():
            return True
        expires = self.webex_access_tokens.get(token)
        return expires is not None and self.clock.now() < expires

    def refresh_webex_token(self, client_id: str, client_secret: str, refresh_token: str) -> dict[str, Any] | str:
        """``grant_type=refresh_token``: a token pair, or the error kind (``invalid_client`` /
        ``invalid_grant``) when the client or the refresh token is not (or no longer) good."""
        if client_id != self.config.webex_client_id or client_secret != self.config.webex_client_secret:
            return "invalid_client"
        now = self.clock.now()
        expires = self.webex_refresh_tokens.get(refresh_token)
        if expires is None or now >= expires:
            return "invalid_grant"
        return self._webex_pair(refresh_token, rotate=self.webex_policy.rotate)

    def issue_webex_pair(self, client_id: str, client_secret: str, target_org: str) -> dict[str, Any] | str:
        """``POST /v1/applications/{id}/token``: a fresh token pair for an authorized service app."""
        if client_id != self.config.webex_client_id or client_secret != self.config.webex_client_secret:
            return "invalid_client"
        if target_org not in (self.config.org_id, _org_b64(self.config.org_id)):
            return "not_authorized"
        return self._webex_pair("simwx-refresh-" + secrets.token_urlsafe(32), rotate=False)

    def _webex_pair(self, refresh_token: str, *, rotate: bool) -> dict[str, Any]:
        now = self.clock.now()
        policy = self.webex_policy
        if rotate:
            del self.webex_refresh_tokens[refresh_token]
            refresh_token = "simwx-refresh-" + secrets.token_urlsafe(32)
        self.webex_refresh_tokens[refresh_token] = now + timedelta(seconds=policy.refresh_lifetime)
        access = "simwx-sa-" + secrets.token_urlsafe(32)
        self.webex_access_tokens[access] = now + timedelta(seconds=policy.access_lifetime)
        return {
            "access_token": access,
            "expires_in": policy.access_lifetime,
            "refresh_token": refresh_token,
            "refresh_token_expires_in": policy.refresh_lifetime,
            "token_type": "Bearer",
        }

    def revoke_webex_tokens(self) -> int:
        """The service app's authorization is withdrawn in Control Hub: every token dies."""
        count = len(self.webex_refresh_tokens) + len(self.webex_access_tokens)
        self.webex_refresh_tokens.clear()
        self.webex_access_tokens.clear()
        return count

    # ---------------------------------------------------------------- Key Vault secrets
    def set_secret(self, name: str, value: str) -> dict[str, Any]:
        version = uuid.UUID(int=self.rng.getrandbits(128), version=4).hex
        entry = {"value": value, "version": version, "created": int(self.clock.now().timestamp())}
        self.vault.setdefault(name, []).append(entry)
        return entry

    def get_secret(self, name: str, version: str | None = None) -> dict[str, Any]:
        versions = self.vault.get(name)
        if not versions:
            raise NotFoundError(name)
        if version is None:
            return versions[-1]
        for entry in versions:
            if entry["version"] == version:
                return entry
        raise NotFoundError(f"{name}/{version}")

    def issue_token(self, scope: str, client_id: str, tenant: str | None = None) -> str:
        token = "simaad." + secrets.token_urlsafe(32)
        self.tokens[token] = TokenInfo(scope, client_id, self.clock.now(), (tenant or self.config.tenant_id).lower())
        return token

    # ---------------------------------------------------------------- views
    def snapshot(self) -> dict[str, Any]:
        return {
            "config": {
                "tenant_id": self.config.tenant_id,
                "tenant_domain": self.config.tenant_domain,
                "org_id": self.config.org_id,
                "workspace_id": self.config.workspace_id,
                "identity_app_id": self.config.identity_app_id,
                "provider_client_id": self.config.provider_client_id,
                "ingestion_delay_seconds": self.config.ingestion_delay_seconds,
            },
            "now": graph_time(self.clock.now()),
            "clock_offset_seconds": self.clock.offset_seconds,
            "integration_healthy": self.integration_healthy(),
            "service_principals": list(self.service_principals.values()),
            "deleted_items": [d.sp for d in self.deleted.values()],
            "oauth2_permission_grants": list(self.grants.values()),
            "app_role_assignments": list(self.app_role_assignments.values()),
            "audit_records": [e.record for e in self.audits],
            "sent_mails": self.mails,
            "webex_messages": self.webex_messages,
            "teams_posts": self.teams_posts,
            "webhook_posts": self.webhook_posts,
            "webex_tokens": {
                "policy": {
                    "access_lifetime": self.webex_policy.access_lifetime,
                    "refresh_lifetime": self.webex_policy.refresh_lifetime,
                    "rotate": self.webex_policy.rotate,
                    "echo_form": self.webex_policy.echo_form,
                },
                "refresh_tokens": len(self.webex_refresh_tokens),
                "access_tokens": len(self.webex_access_tokens),
            },
            "key_vault": {name: [dict(v) for v in versions] for name, versions in self.vault.items()},
            "log_analytics_queries": self.la_queries,
            "webex_status_call": self.status_call.describe(),
            "faults": [f.describe() for f in self.faults],
            "tenants": sorted(self.tenants),
            "provider_consented": self.provider_consented,
            "client_assertions": self.assertions,
        }
