"""``SimulatorControl``: an async client for the ``/_sim`` control API.

Works against an in-process :class:`~simulator.server.Simulator`, a :class:`SimulatorThread` or a
``python -m simulator`` process alike, since it only speaks HTTP.
"""

from __future__ import annotations

import base64
import copy
import json as jsonlib
import os
import ssl
from typing import Any

import httpx


class SimulatorControl:
    """Scenario, fault, recording, state and clock calls. Use as ``async with`` or call ``aclose()``."""

    def __init__(
        self, base_url: str, verify: str | os.PathLike[str] | ssl.SSLContext | bool = True, timeout: float = 30.0
    ) -> None:
        if isinstance(verify, str | os.PathLike):
            verify = ssl.create_default_context(cafile=os.fspath(verify))
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/") + "/_sim", verify=verify, timeout=timeout)
        self._tenant: str | None = None

    def for_tenant(self, tenant_id: str) -> SimulatorControl:
        """The same controls aimed at one extra tenant's world (scenarios, state, behaviour, reset);
        requests, faults and the clock stay the simulator's. Shares this client's connection: close
        this one, not the view."""
        view = copy.copy(self)
        view._tenant = tenant_id
        return view

    async def __aenter__(self) -> SimulatorControl:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, json: Any = None, params: dict[str, str] | None = None) -> Any:
        if self._tenant is not None:
            params = {**(params or {}), "tenant": self._tenant}
        response = await self._http.request(method, path, json=json, params=params)
        if response.status_code >= 400:
            raise SimulatorControlError(response.status_code, response.text)
        return response.json()

    # -------------------------------------------------------------- setup
    async def reset(self, **options: Any) -> dict[str, Any]:
        """Healthy tenant again. ``options``: tenant_id, org_id, identity_app_id, webex_access_token,
        webex_bot_token, room_id, webex_client_id, webex_client_secret, webex_refresh_token, workspace_id,
        client_id, client_secret, ingestion_delay_seconds, seed."""
        result: dict[str, Any] = await self._call("POST", "/reset", json=options)
        return result

    # -------------------------------------------------------------- scenarios
    async def delete(
        self, app: str = "integration", hard: bool = False, actor: str | None = None, sp_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Delete the app's service principal (or the one with object id ``sp_id``, soft); returns
        the audit records appended."""
        body = {"app": app, "hard": hard, "actor": actor, "sp_id": sp_id}
        result = await self._call("POST", "/scenario/delete", json=body)
        return list(result["records"])

    async def disable(self, app: str = "integration", actor: str | None = None) -> list[dict[str, Any]]:
        result = await self._call("POST", "/scenario/disable", json={"app": app, "actor": actor})
        return list(result["records"])

    async def enable(self, app: str = "integration", actor: str | None = None) -> list[dict[str, Any]]:
        result = await self._call("POST", "/scenario/enable", json={"app": app, "actor": actor})
        return list(result["records"])

    async def consent(self, actor: str | None = None, app: str = "integration") -> dict[str, Any]:
        """Admin consent: ``{"records": [...], "service_principal": {...}}`` (new object id if re-created)."""
        result: dict[str, Any] = await self._call("POST", "/scenario/consent", json={"actor": actor, "app": app})
        return result

    async def revoke(self, actor: str | None = None) -> list[dict[str, Any]]:
        """Remove the integration's delegated grant (SP stays): "Remove delegated permission grant"."""
        result = await self._call("POST", "/scenario/revoke", json={"actor": actor})
        return list(result["records"])

    async def restore(self, app: str = "integration", actor: str | None = None) -> dict[str, Any]:
        """An admin restores the app from the recycle bin in the portal."""
        result: dict[str, Any] = await self._call("POST", "/scenario/restore", json={"app": app, "actor": actor})
        return result

    async def activity(self, activity: str, app: str | None = None, actor: str | None = None) -> dict[str, Any]:
        """Audit an unrelated change (about ``app``'s service principal, or a user); returns the record."""
        result = await self._call("POST", "/scenario/activity", json={"activity": activity, "app": app, "actor": actor})
        return dict(result["records"][0])

    async def add_service_principal(
        self,
        display_name: str,
        app_id: str | None = None,
        *,
        owner_org: str | None = None,
        by_integration: bool = False,
    ) -> dict[str, Any]:
        """Another enterprise app in the tenant (any name; a new appId unless given): registered
        here by a user unless ``owner_org`` (another organization's multi-tenant app) or
        ``by_integration`` (created and owned by the wizard's Integration)."""
        body: dict[str, object] = {"display_name": display_name, "app_id": app_id, "owner_org": owner_org}
        body["by_integration"] = by_integration
        result = await self._call("POST", "/scenario/add-sp", json=body)
        return dict(result["service_principal"])

    async def assign_app_role(self, app: str = "integration", app_role_id: str | None = None) -> dict[str, Any]:
        """Grant the app an application permission on Microsoft Graph; returns the assignment."""
        result = await self._call("POST", "/scenario/app-role", json={"app": app, "app_role_id": app_role_id})
        return dict(result["assignment"])

    # -------------------------------------------------------------- faults
    async def add_fault(
        self,
        path: str = ".*",
        *,
        method: str | None = None,
        status: int | None = None,
        retry_after: str | float | None = None,
        body: Any = None,
        malformed: bool = False,
        delay: float = 0.0,
        times: int | None = 1,
        drop: bool = False,
        headers: dict[str, str] | None = None,
        skip: int = 0,
        hold: str | None = None,
    ) -> int:
        """Add a fault; returns its id. ``path`` is a regex searched in the request path. ``hold``
        ("before"/"after" the service acts) hangs the ``skip + 1``-th matching call until the faults
        are cleared (the crash harness, tests/crash/)."""
        payload = {
            "path": path,
            "method": method,
            "status": status,
            "retry_after": None if retry_after is None else str(retry_after),
            "body": body,
            "malformed": malformed,
            "delay": delay,
            "times": times,
            "drop": drop,
            "headers": headers or {},
            "skip": skip,
            "hold": hold,
        }
        result = await self._call("POST", "/faults", json=payload)
        return int(result["id"])

    async def clear_faults(self) -> int:
        return int((await self._call("DELETE", "/faults"))["cleared"])

    async def faults(self) -> list[dict[str, Any]]:
        """The faults not used up yet (a held call's fault has left this list)."""
        return list((await self._call("GET", "/faults"))["faults"])

    # -------------------------------------------------------------- recordings and state
    async def requests(self, path: str | None = None, method: str | None = None) -> list[dict[str, Any]]:
        params = {k: v for k, v in (("path", path), ("method", method)) if v}
        return list((await self._call("GET", "/requests", params=params))["requests"])

    async def clear_requests(self) -> int:
        return int((await self._call("DELETE", "/requests"))["cleared"])

    async def state(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", "/state")
        return result

    async def advance_clock(self, seconds: float) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("POST", "/clock/advance", json={"seconds": seconds})
        return result

    # -------------------------------------------------------------- Webex service app and Key Vault
    async def webex_tokens(
        self,
        *,
        access_lifetime: int | None = None,
        refresh_lifetime: int | None = None,
        rotate: bool | None = None,
        echo_form: bool | None = None,
    ) -> dict[str, Any]:
        """Token lifetimes (seconds, on the simulator clock), refresh-token rotation, and
        ``echo_form``: refusals echo the form received (a hostile endpoint)."""
        body = {
            k: v
            for k, v in (
                ("access_lifetime", access_lifetime),
                ("refresh_lifetime", refresh_lifetime),
                ("rotate", rotate),
                ("echo_form", echo_form),
            )
            if v is not None
        }
        result: dict[str, Any] = await self._call("POST", "/webex/tokens", json=body)
        return result

    async def revoke_webex_tokens(self) -> int:
        """The service app is de-authorized in Control Hub: refresh and access tokens die."""
        return int((await self._call("POST", "/webex/revoke"))["revoked"])

    async def webex_status_mode(self, mode: str, lag_seconds: float | None = None) -> dict[str, Any]:
        """Control Hub's status call: ``as_today``, ``admin_only``, ``unknown_body`` or ``lagging``
        (``lag_seconds`` on the simulator clock); see :mod:`simulator.controlhub`."""
        body: dict[str, Any] = {"mode": mode}
        if lag_seconds is not None:
            body["lag_seconds"] = lag_seconds
        result: dict[str, Any] = await self._call("POST", "/webex/status", json=body)
        return result

    async def service_app_token(self) -> str:
        """An access token of the org's authorized service app (not an administrator's session)."""
        return str((await self._call("POST", "/webex/service-app-token"))["access_token"])

    async def log_analytics_limit(self, max_rows: int | None) -> dict[str, Any]:
        """Results longer than ``max_rows`` come back partial (``None``: no limit)."""
        result: dict[str, Any] = await self._call("POST", "/loganalytics/limits", json={"max_rows": max_rows})
        return result

    async def set_secret(self, name: str, value: str) -> str:
        """Store a Key Vault secret (a new version); returns the version id."""
        return str((await self._call("POST", "/keyvault/secrets", json={"name": name, "value": value}))["version"])

    # -------------------------------------------------------------- Graph strictness (issue 14)
    async def graph_behaviour(self, **settings: Any) -> dict[str, Any]:
        """Change simulated Graph's behaviours (``simulator.graph_behaviour.GraphBehaviour`` fields:
        delta_token_lifetime, delta_expiry, audit_rate_limit, audit_app_rate_limit, audit_rate_window,
        call_latency_seconds, audit_delay, audit_delay_seconds, audit_page_sizes, restore_grants,
        restore_app_roles, restore_lag_seconds); returns them all. Reset restores the defaults. The
        limits and the latency are read from the default tenant's settings for every tenant."""
        result: dict[str, Any] = await self._call("POST", "/graph/behaviour", json=settings)
        return result

    async def expire_delta_links(self) -> int:
        """Every delta link issued so far is answered as expired from now on."""
        return int((await self._call("POST", "/graph/expire-delta"))["epoch"])

    # -------------------------------------------------------------- many tenants (issue 17)
    async def add_tenants(
        self, count: int = 1, *, tenant_id: str | None = None, tenant_domain: str | None = None
    ) -> list[dict[str, Any]]:
        """``count`` new healthy tenants (or one with the given id/domain), the provider's app
        consented in each; returns their descriptions (tenant_id, org_id, webex_access_token…)."""
        body = {"count": count, "tenant_id": tenant_id, "tenant_domain": tenant_domain}
        result = await self._call("POST", "/tenants", json={k: v for k, v in body.items() if v is not None})
        return list(result["tenants"])

    async def tenants(self) -> dict[str, Any]:
        """``{"default": {...}, "tenants": [{...}, ...]}``."""
        result: dict[str, Any] = await self._call("GET", "/tenants")
        return result

    async def remove_tenant(self, tenant_id: str) -> None:
        await self._call("DELETE", f"/tenants/{tenant_id}")

    async def throttle_tenant(self, tenant_id: str, seconds: float, scope: str = "all") -> dict[str, Any]:
        """Graph answers the tenant's calls (``scope="audit"``: only ``auditLogs/*``) with 429 and
        ``Retry-After`` for ``seconds`` of simulator time."""
        result: dict[str, Any] = await self._call(
            "POST", f"/tenants/{tenant_id}/throttle", json={"seconds": seconds, "scope": scope}
        )
        return result

    async def provider_consent(self, tenant_id: str, granted: bool) -> dict[str, Any]:
        """Grant or revoke the provider app's admin consent in one tenant (revoked: no token there)."""
        result: dict[str, Any] = await self._call(
            "POST", f"/tenants/{tenant_id}/provider-consent", json={"granted": granted}
        )
        return result


def federated_assertion(
    subject: str = "sim-managed-identity", issuer: str = "https://login.microsoftonline.com/sim/v2.0"
) -> str:
    """A JWT-shaped stand-in for the managed identity's token for ``api://AzureADTokenExchange``
    (what ``ClientAssertionCredential`` posts as ``client_assertion``). Unsigned: the simulator checks
    its shape and audience only."""

    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(jsonlib.dumps(obj).encode()).decode().rstrip("=")

    claims = {"aud": "api://AzureADTokenExchange", "iss": issuer, "sub": subject}
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lt"


class SimulatorControlError(RuntimeError):
    """A control call was refused (bad scenario for the current state, bad fault spec…)."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"simulator control call failed ({status}): {text[:500]}")
        self.status = status
        self.text = text
