"""Tiny fakes for the checks' clients (shared.checks.deps): plain classes, no services."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from shared.checks.deps import CheckClients, WebexStatusMemory
from shared.clients.checkpoints import StateRow
from shared.clients.graph import AppRoleAssignment, DeletedServicePrincipal, PermissionGrant, ServicePrincipal
from shared.core.catalogue import INTEGRATION_APP_ID
from shared.core.errors import TransientError, UpstreamError
from shared.core.settings import Settings

TENANT = "0b7e1f4c-2d3a-4e5f-8a9b-1c2d3e4f5a6b"
IDENTITY_APP_ID = "11111111-2222-4333-8444-555555555555"
ORG = "org-1"
STATUS_URL = f"https://identity-b-us.webex.com/extIntegration/azureAD/{ORG}/v1/WebexApplications/status"
SCIM_URL = f"https://webexapis.com/identity/scim/{ORG}/v2/Users"
WHEN = datetime(2026, 11, 29, 8, 30, 15, 1234, tzinfo=UTC)


def settings(identity_app_id: str | None = IDENTITY_APP_ID, token: str | None = "tok-1", **more: Any) -> Settings:
    fields: dict[str, Any] = {"tenant_id": TENANT, "webex_org_id": ORG}
    return Settings(**{**fields, **more}, webex_identity_app_id=identity_app_id, webex_access_token=token)


def sp(
    app_id: str, sp_id: str = "sp-1", *, enabled: bool | None = True, name: str | None = None, **kw: Any
) -> ServicePrincipal:
    return ServicePrincipal(sp_id, app_id, name, enabled, **kw)


class FakeGraph:
    """Answers from dicts; an exception as a value is raised by that call."""

    def __init__(self) -> None:
        self.by_app_id: dict[str, Any] = {}
        self.deleted: dict[str, Any] = {}
        self.by_name: list[ServicePrincipal] = []
        self.owners: dict[str, tuple[list[str], int]] = {}
        self.grants: Any = []
        self.roles: Any = []
        self.calls: list[str] = []

    @staticmethod
    def _answer(value: Any) -> Any:
        if isinstance(value, Exception):
            raise value
        return value

    async def service_principals_by_app_id(self, app_id: str) -> list[ServicePrincipal]:
        self.calls.append(f"by_app_id {app_id}")
        return list(self._answer(self.by_app_id.get(app_id, [])))

    async def service_principals_by_display_name(self, name: str) -> list[ServicePrincipal]:
        self.calls.append(f"by_name {name}")
        return list(self.by_name)

    async def service_principal_owner_app_ids(self, sp_id: str) -> tuple[list[str], int]:
        self.calls.append(f"owners {sp_id}")
        return self.owners.get(sp_id, ([], 0))

    async def deleted_service_principals(self, app_id: str) -> list[DeletedServicePrincipal]:
        self.calls.append(f"deleted {app_id}")
        return list(self._answer(self.deleted.get(app_id, [])))

    async def permission_grants(self, client_sp_id: str) -> list[PermissionGrant]:
        self.calls.append(f"grants {client_sp_id}")
        return list(self._answer(self.grants))

    async def app_role_assignments(self, sp_id: str) -> list[AppRoleAssignment]:
        self.calls.append(f"roles {sp_id}")
        return list(self._answer(self.roles))


def admin_grant(scope: str = "User.Read Directory.Read.All") -> PermissionGrant:
    return PermissionGrant("g1", "AllPrincipals", scope, "res-1")


def role(role_id: str = "df021288", resource: str | None = "Microsoft Graph") -> AppRoleAssignment:
    return AppRoleAssignment("a1", role_id, "res-1", resource)


def forbidden() -> UpstreamError:
    return UpstreamError("Graph answered 403 Authorization_RequestDenied", status=403)


def throttled() -> TransientError:
    return TransientError("Graph answered 429", retry_after=30.0)


class FakeAuth:
    """A token holder: ``tokens`` are handed out in order (renew takes the next); an exception is raised."""

    def __init__(self, *tokens: Any, refreshable: bool = False) -> None:
        self.tokens = list(tokens) or [None]
        self.refreshable = refreshable
        self.renewals = 0

    async def access_token(self) -> str | None:
        value = self.tokens[0]
        if isinstance(value, Exception):
            raise value
        return value  # type: ignore[no-any-return]

    async def renew(self) -> str | None:
        self.renewals += 1
        if len(self.tokens) > 1:
            self.tokens.pop(0)
        return await self.access_token()


class FakeState:
    """Named rows with a counter for an ETag; ``race`` makes the next put lose (another writer)."""

    def __init__(self, **rows: dict[str, Any]) -> None:
        self.rows = {name: (values, f"e{i}") for i, (name, values) in enumerate(rows.items())}
        self.puts: list[tuple[str, dict[str, Any]]] = []
        self.race = False

    async def get_state(self, name: str) -> StateRow:
        values, etag = self.rows.get(name, ({}, None))
        return StateRow(dict(values), etag)

    async def put_state(self, name: str, values: dict[str, Any], etag: str | None) -> StateRow | None:
        if self.race:
            self.race = False
            self.rows[name] = ({**values, "app_id": "99999999-2222-4333-8444-555555555555"}, "raced")
            return None
        self.puts.append((name, values))
        self.rows[name] = (values, f"e{len(self.puts)}-w")
        return StateRow(values, self.rows[name][1])


Handler = Callable[[httpx.Request], httpx.Response]


def webex(status: Any = None, scim: Any = None) -> tuple[httpx.AsyncClient, list[httpx.Request]]:
    """An httpx client whose status and SCIM calls answer from ``status``/``scim``: a response, a
    list of responses (one per call, the last repeated), or a handler."""
    seen: list[httpx.Request] = []
    queues = {STATUS_URL: status, SCIM_URL: scim}

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        url = str(request.url).split("?")[0]
        answer = next((a for prefix, a in queues.items() if url.startswith(prefix)), None)
        if answer is None:
            return httpx.Response(404, text="no route")
        if callable(answer):
            return answer(request)  # type: ignore[no-any-return]
        if isinstance(answer, list):
            return answer.pop(0) if len(answer) > 1 else answer[0]
        return answer  # type: ignore[no-any-return]

    return httpx.AsyncClient(transport=httpx.MockTransport(handle)), seen


def status_ok() -> httpx.Response:
    return httpx.Response(200, json={"status": "ENABLED"}, headers={"trackingid": "ATLAS_ok"})


def status_401(code: str = "100001") -> httpx.Response:
    return httpx.Response(401, json={"error": {"code": code}}, headers={"trackingid": "ATLAS_401"})


def scim_ok(total: int = 3) -> httpx.Response:
    return httpx.Response(200, json={"totalResults": total, "Resources": []}, headers={"trackingid": "ROUTER_ok"})


def scim_status(code: int, message: str = "nope") -> httpx.Response:
    return httpx.Response(code, text=json.dumps({"message": message}), headers={"trackingid": f"ROUTER_{code}"})


def clients(
    *,
    graph: FakeGraph | None = None,
    http: httpx.AsyncClient | None = None,
    auth: FakeAuth | None = None,
    state: FakeState | None = None,
    memory: WebexStatusMemory | None = None,
    cfg: Settings | None = None,
) -> CheckClients:
    return CheckClients(
        cfg or settings(),
        graph or FakeGraph(),
        http or webex(status_ok(), scim_ok())[0],
        auth or FakeAuth("tok-1"),
        state or FakeState(),
        memory or WebexStatusMemory(),
    )


def healthy_graph(identity_app_id: str = IDENTITY_APP_ID) -> FakeGraph:
    g = FakeGraph()
    g.by_app_id[INTEGRATION_APP_ID] = [sp(INTEGRATION_APP_ID, "sp-int")]
    g.by_app_id[identity_app_id] = [sp(identity_app_id, "sp-id")]
    g.grants = [admin_grant()]
    return g
