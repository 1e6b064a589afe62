"""HTTP ``GET|POST /api/actions/{token}``: the signed "Check now" / "Acknowledge" links of notices.

Anonymous at the Functions level: the link is clicked in a mail or chat client, with no key and no
sign-in. It trusts nothing but the token's signature (shared.core.action_links). GET answers a
confirmation page and changes nothing (mail scanners fetch every link); the action happens on the
page's POST (shared.app.action_pages).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import azure.functions as func

if TYPE_CHECKING:
    from shared.app.action_pages import Page
    from shared.app.actions import ActionDeps
    from shared.app.runtime import Services

bp = func.Blueprint()


def _answer(page: Page) -> func.HttpResponse:
    return func.HttpResponse(page.html, status_code=page.status, headers=page.headers, mimetype="text/html",
                             charset="utf-8")  # fmt: skip


def action_deps(svc: Services) -> ActionDeps:
    """The use cases' dependencies from the process's clients: the incident store and the
    verification run the queue trigger also uses."""
    from shared.app.actions import ActionDeps
    from shared.app.verification import run_verification
    from shared.clients.verify_queue import VerifyMessage

    async def verify(
        tenant_id: str, app_key: str, incident_id: str, attempt: int
    ) -> tuple[str, tuple[tuple[str, str], ...]]:
        scope = await svc.scope_for(tenant_id)  # provider mode: Check now runs as the incident's tenant
        if scope is None:
            return "no_incident", ()  # the tenant was offboarded: its incident is not followed any more
        outcome = await run_verification(
            scope.verification_deps(), VerifyMessage(tenant_id, app_key, incident_id, attempt)
        )
        return outcome.outcome, outcome.verdicts

    return ActionDeps(rows=svc.store(), verify=verify)


@bp.function_name("notice_action")
@bp.route(route="actions/{token}", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def notice_action(req: func.HttpRequest) -> func.HttpResponse:
    from shared.app.action_pages import confirm, perform
    from shared.core.clock import clock
    from shared.core.settings import get_settings

    token = req.route_params.get("token", "")
    if req.method.upper() != "POST":
        return _answer(confirm(get_settings(), token, now=clock.now()))
    from shared.app.warmup import warm

    await warm("full")  # Check now runs the checks: first-use imports off the event loop
    from shared.app.runtime import get_services

    svc = await get_services()
    page = await perform(svc.settings, action_deps(svc), token, req.get_body(), req.headers.get("content-type"),
                         now=clock.now())  # fmt: skip
    return _answer(page)
