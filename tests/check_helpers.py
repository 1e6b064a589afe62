"""The checks as the health timer and the verification run use them, for scenario tests: the
checks' clients and the operational-notice sender come from the process's Services."""

from __future__ import annotations

from datetime import datetime
from typing import Any


async def checked(svc: Any, apps: Any = None, *, since: datetime | None = None, notify: bool = True) -> Any:
    """Every check, then the operational notices they owe (unless ``notify=False``, as ``check`` does)."""
    from shared.app.checking import CheckingDeps, check_and_notify

    deps = CheckingDeps(await svc.check_clients(), svc.operational_sender())
    return await check_and_notify(deps, apps, since=since, notify=notify)


async def webex_status(svc: Any, *, notify: bool = True) -> Any:
    """Control Hub's status check alone, then the notice it owes (an expired authorization)."""
    from shared.app.operational_notices import send_owed
    from shared.checks.webex import check_webex_status

    result = await check_webex_status(await svc.check_clients())
    if notify:
        await send_owed(svc.operational_sender(), result.owed)
    return result
