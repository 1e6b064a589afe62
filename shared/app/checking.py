"""The checks as a use case: run them, then send what they owe the admins unless told not to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

    from shared.app.operational_notices import OperationalSend
    from shared.checks.deps import CheckClients
    from shared.checks.report import HealthReport
    from shared.core.catalogue import WebexApp


@dataclass(frozen=True, slots=True)
class CheckingDeps:
    """What a checked run uses: the checks' clients and the operational-notice sender."""

    clients: CheckClients
    send: OperationalSend


async def check_and_notify(
    deps: CheckingDeps,
    apps: tuple[WebexApp, ...] | None = None,
    *,
    since: datetime | None = None,
    notify: bool = True,
) -> HealthReport:
    """:func:`shared.checks.run.run_checks`, then the notices its results owe (``notify=False``: a
    person at a terminal is looking, so the admins are not told)."""
    from shared.app.operational_notices import send_owed
    from shared.checks.run import run_checks

    report = await run_checks(deps.clients, apps, since=since)
    if notify:
        await send_owed(deps.send, report.owed)
    return report
