"""Every check, concurrently where independent, in one :class:`~shared.checks.report.HealthReport`.

Used by three callers: the verification run (is the incident over?), the health timer (is anything
broken that no event told us about?) and ``python -m shared.cli check`` (a table for people).
A check never raises for what it finds; a transient failure becomes a ``degraded`` verdict so one
slow API does not hide the others' results. A check never notifies either: what it owes the admins
is in the report (:attr:`HealthReport.owed`) for the app layer to send.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from shared.checks.graph import GRANTS_PERMISSION, check_consent_grant, check_service_principal
from shared.checks.report import NON_BLOCKING, CheckResult, HealthReport
from shared.checks.webex import check_webex_scim, check_webex_status, read_together

if TYPE_CHECKING:
    from collections.abc import Coroutine
    from datetime import datetime
    from typing import Any

    from shared.checks.deps import CheckClients
    from shared.core.catalogue import WebexApp


async def run_checks(
    clients: CheckClients, apps: tuple[WebexApp, ...] | None = None, *, since: datetime | None = None
) -> HealthReport:
    """Every check for ``apps`` (all by default) and Webex's. ``since`` (an incident's opening) lets
    the SCIM canary say whether a sync ran after the outage began."""
    cat = clients.settings.catalogue
    apps = apps if apps is not None else cat.apps
    tasks: list[Coroutine[Any, Any, CheckResult]] = [check_service_principal(clients, app) for app in apps]
    if any(app.key == cat.integration.key for app in apps):
        tasks.append(check_consent_grant(clients.graph, cat.integration))
    graph_done, webex_done = await asyncio.gather(asyncio.gather(*tasks), webex_checks(clients, since))
    report = HealthReport([*graph_done, *webex_done])
    blind = consent_unwitnessed(report)
    if blind is not None:
        report.results.append(blind)
    return report


async def webex_checks(clients: CheckClients, since: datetime | None = None) -> list[CheckResult]:
    """The status call, then SCIM (skipped when there is no token or it expired), read together."""
    status = await check_webex_status(clients)
    if status.verdict in ("not_configured", "authorization_expired"):
        return [status]
    scim = await check_webex_scim(clients, status.verdict, since)
    return [read_together(clients.webex_status, status, scim), scim]


def consent_unwitnessed(report: HealthReport) -> CheckResult | None:
    """Whether anybody saw the integration's consent. Graph's grant check is the primary witness; if
    it cannot read the grants (no Directory.Read.All) and the status call cannot tell either (it
    refuses our token, or answers in a shape we cannot read), a resolution would rest on nothing:
    an ``unwitnessed`` result keeps the incident open and says what to grant."""
    grant = report.first("graph.consent_grant.")
    status = report.first("webex.sync_status")
    if grant is None or status is None or grant.verdict != "not_configured":
        return None
    if status.verdict not in NON_BLOCKING["webex.sync_status"]:
        return None
    evidence = (
        f"nobody can see the integration's admin consent: Graph cannot read its grants ({GRANTS_PERMISSION} "
        f"missing) and the status call says {status.verdict}; grant {GRANTS_PERMISSION} to the app's identity"
    )
    return CheckResult("consent.witness", "unwitnessed", evidence, 0.0, app_key=grant.app_key)
