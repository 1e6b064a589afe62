"""HTTP ``GET /api/status``: open incidents, the last 30 days and the latest health table; in provider
mode, one row per customer tenant from its last sweep (:func:`shared.app.status.provider_snapshot`).

Anonymous at the Functions level and protected by App Service Authentication (Entra ID, infra/app/
api.bicep ``authsettingsV2``): the platform signs the person in and passes ``X-MS-CLIENT-PRINCIPAL``.
The function refuses any request without that header (401) or without the ``Status.Read`` app role
(403), so a deployment where authentication was turned off shows nothing. HTML by default; JSON for
``?format=json`` or ``Accept: application/json``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import azure.functions as func

if TYPE_CHECKING:
    from shared.app.runtime import Services

bp = func.Blueprint()

SIGN_IN = (
    "Sign in with your organization account at /.auth/login/aad?post_login_redirect_uri=/api/status "
    "(App Service Authentication must be on for this app; see docs/deploy.md, “Status page”)."
)
NO_ROLE = "Your account does not hold the Status.Read app role of the remediator's status-page app registration."


def wants_json(req: func.HttpRequest) -> bool:
    if (req.params.get("format") or "").lower() == "json":
        return True
    accept = (req.headers.get("accept") or "").lower()
    return "application/json" in accept and "text/html" not in accept


@bp.function_name("status_page")
@bp.route(route="status", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def status_page(req: func.HttpRequest) -> func.HttpResponse:
    import os

    from shared.app.pages import SECURITY_HEADERS, render_page
    from shared.core.principal import HEADER, authorize, platform_auth_enabled

    code, _ = authorize(req.headers.get(HEADER), platform_auth=platform_auth_enabled(os.environ))
    if code != 200:
        html = render_page("action_result.html.j2", title="Sign-in required" if code == 401 else "Not allowed",
                           good=False, incident_id=None, app_name=None, verdicts=(), steps=(),
                           message=SIGN_IN if code == 401 else NO_ROLE)  # fmt: skip
        return func.HttpResponse(html, status_code=code, headers=dict(SECURITY_HEADERS), mimetype="text/html")
    from shared.app.runtime import get_services
    from shared.app.status import StatusDeps, status_snapshot
    from shared.clients.health_rows import HealthRows
    from shared.clients.storage import table_client
    from shared.core.clock import clock

    svc = await get_services()
    if svc.settings.tenancy_mode == "provider":  # one row per customer tenant (docs/tenants.md)
        return await _provider_page(req, svc)
    async with table_client(svc.storage, svc.settings.incidents_table) as table:
        deps = StatusDeps(incidents=svc.store(), health=HealthRows(table, svc.settings.tenant_id),
                          catalogue=svc.settings.catalogue, tenant_id=svc.settings.tenant_id)  # fmt: skip
        snapshot = await status_snapshot(deps, now=clock.now())
    if wants_json(req):
        return func.HttpResponse(json.dumps(snapshot), headers=dict(SECURITY_HEADERS), mimetype="application/json")
    html = render_page("status.html.j2", title="Status", s=snapshot)
    return func.HttpResponse(html, headers=dict(SECURITY_HEADERS), mimetype="text/html", charset="utf-8")


async def _provider_page(req: func.HttpRequest, svc: Services) -> func.HttpResponse:
    from shared.app.pages import SECURITY_HEADERS, render_page
    from shared.app.status import PAGE_ROWS, ProviderStatusDeps, provider_snapshot
    from shared.clients.sweep_results import SweepResults
    from shared.core.clock import clock

    deps = ProviderStatusDeps(tenants=svc.tenant_store(), results=SweepResults(svc.table()))
    snapshot = await provider_snapshot(deps, now=clock.now())
    if wants_json(req):
        return func.HttpResponse(json.dumps(snapshot), headers=dict(SECURITY_HEADERS), mimetype="application/json")
    html = render_page("status_provider.html.j2", title="Tenants", s=snapshot, limit=PAGE_ROWS)
    return func.HttpResponse(html, headers=dict(SECURITY_HEADERS), mimetype="text/html", charset="utf-8")
