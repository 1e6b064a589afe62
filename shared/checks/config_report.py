"""Configuration problems that turn one channel or feature off: a verdict, and the notice they owe.

:attr:`shared.core.settings.Settings.problems` lists them (an unresolved Key Vault reference, a webhook URL
without its signing key …). They are not :class:`~shared.core.errors.ConfigError`: that would stop every
trigger, and one missing secret must not silence the channels that work. Instead:

* ``python -m shared.cli check`` shows a ``config.channels`` row (verdict ``misconfigured``), so the
  person deploying sees it at once (:func:`config_check`);
* the health timer tells the admins once, through the channels that do work: :func:`config_notice`
  is the notice, its once-key made of the problems' text, so a new or different problem is told
  again, the same one is not told every minute (sent by ``shared.app.operational_notices``).
"""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING

from shared.checks.report import CheckResult, NoticeOwed

if TYPE_CHECKING:
    from shared.core.settings import Settings

CHECK_NAME = "config.channels"


def config_check(settings: Settings) -> CheckResult:
    """The ``check`` table row for the configuration: ``misconfigured`` names every problem."""
    started = time.perf_counter()
    problems = settings.problems
    if not problems:
        return CheckResult(CHECK_NAME, "healthy", "every configured channel has the settings it needs", 0.0)
    evidence = "; ".join(p.message for p in problems)
    return CheckResult(CHECK_NAME, "misconfigured", evidence, (time.perf_counter() - started) * 1000)


def _once_key(settings: Settings) -> str:
    text = "\n".join(sorted(p.message for p in settings.problems))
    return "config-problems:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def config_notice(settings: Settings) -> NoticeOwed | None:
    """The one operational notice the current problems owe (``None``: no problem)."""
    problems = settings.problems
    if not problems:
        return None
    return NoticeOwed(
        kind="configuration_problem",
        title="The Webex sync remediator is partly misconfigured",
        lines=(
            *(p.message for p in problems),
            "The other channels and all checks keep working. Fix the app settings (for a Key Vault reference: "
            "create the secret and grant the app's identity access), then restart the function app.",
        ),
        once_key=_once_key(settings),
    )
