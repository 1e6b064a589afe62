"""Telling people about configuration problems that turn one channel or feature off.

:attr:`shared.core.settings.Settings.problems` lists them (an unresolved Key Vault reference, a webhook URL
without its signing key …). They are not :class:`~shared.core.errors.ConfigError`: that would stop every
trigger, and one missing secret must not silence the channels that work. Instead:

* ``python -m shared.cli check`` shows a ``config.channels`` row (verdict ``misconfigured``), so the
  person deploying sees it at once;
* the health timer tells the admins once, through the channels that do work
  (:func:`shared.incidents.operational.send_operational` with a once-key made of the problems' text, so a new
  or different problem is told again, the same one is not told every minute).
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.app.runtime import Services
    from shared.checks.suite import CheckResult
    from shared.core.settings import Settings

log = logging.getLogger(__name__)

CHECK_NAME = "config.channels"
_ANNOUNCED = "config_problems_announced"


def config_check(settings: Settings) -> CheckResult:
    """The ``check`` table row for the configuration: ``misconfigured`` names every problem."""
    from shared.checks.suite import CheckResult

    started = time.perf_counter()
    problems = settings.problems
    if not problems:
        return CheckResult(CHECK_NAME, "healthy", "every configured channel has the settings it needs", 0.0)
    evidence = "; ".join(p.message for p in problems)
    return CheckResult(CHECK_NAME, "misconfigured", evidence, (time.perf_counter() - started) * 1000)


def _once_key(settings: Settings) -> str:
    text = "\n".join(sorted(p.message for p in settings.problems))
    return "config-problems:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


async def announce_config_problems(svc: Services) -> list[str]:
    """Send one operational notice about the current problems (none: nothing). Returns the
    channels that took it. Failures are logged, never raised: the health check matters more."""
    from shared.incidents.operational import OperationalNotice, send_operational

    settings = svc.settings
    problems = settings.problems
    if not problems or svc.extras.get("quiet"):
        return []
    key = _once_key(settings)
    if svc.extras.get(_ANNOUNCED) == key:  # this process told them already: no table round trip
        return []
    notice = OperationalNotice(
        kind="configuration_problem",
        title="The Webex sync remediator is partly misconfigured",
        lines=(
            *(p.message for p in problems),
            "The other channels and all checks keep working. Fix the app settings (for a Key Vault reference: "
            "create the secret and grant the app's identity access), then restart the function app.",
        ),
    )
    try:
        sent = await send_operational(svc.operational_deps(), notice, once_key=key)
    except Exception:  # the next tick tries again
        log.exception("could not send the configuration notice")
        return []
    if sent:  # nothing sent: told already (marker row) or every channel failed; the next tick asks again
        svc.extras[_ANNOUNCED] = key
    return sent
