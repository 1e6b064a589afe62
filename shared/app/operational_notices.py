"""Sending the operational notices checks say are owed: the app layer decides, a check never sends.

A check's result carries :class:`~shared.checks.report.NoticeOwed` (our Webex authorization expired,
a look-alike Identity app, a token without the SCIM scope, the status call refusing our token); the
health timer, the verification run and the restore send them here through
:func:`shared.incidents.operational.send_operational` (once per ``once_key``: a marker row), while
``python -m shared.cli check`` — a person looking — sends nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from shared.checks.report import NoticeOwed
    from shared.core.settings import Settings
    from shared.incidents.operational import OperationalNotice

log = logging.getLogger(__name__)


class OperationalSend(Protocol):
    """Sends one operational notice on every channel, at most once per ``once_key``; returns the
    channels that took it (``shared.incidents.operational.send_operational`` bound to its clients)."""

    async def __call__(self, notice: OperationalNotice, *, once_key: str | None = None) -> list[str]: ...


class ConfigAnnouncements:
    """Which configuration problems this process told the admins about already (their once-key):
    the same problems are not re-checked against the marker row every tick."""

    def __init__(self) -> None:
        self.told: str | None = None


async def send_owed_notice(send: OperationalSend, owed: NoticeOwed) -> list[str]:
    """Send one owed notice; failures are logged, never raised (the verdict matters more, and the
    next run tries again). Returns the channels that took it (``[]``: told before, or none did)."""
    from shared.incidents.operational import OperationalNotice

    lines = (*owed.lines, f"Evidence: {owed.evidence}") if owed.evidence is not None else owed.lines
    notice = OperationalNotice(kind=owed.kind, title=owed.title, lines=lines)
    try:
        sent = await send(notice, once_key=owed.once_key)
    except Exception:  # the verdict matters more than the notice; the next run tries again
        log.exception("could not send the %s notice", owed.kind)
        return []
    if sent and owed.log_when_sent:  # logged with the notice, once; later runs carry it in the evidence only
        log.warning("%s: %s", owed.title, owed.evidence, extra={"event": owed.kind})
    return sent


async def send_owed(send: OperationalSend, owed: Iterable[NoticeOwed]) -> None:
    """Every notice in ``owed``, one after the other (each once per its key)."""
    for notice in owed:
        await send_owed_notice(send, notice)


async def announce_config_problems(settings: Settings, send: OperationalSend, memory: ConfigAnnouncements) -> list[str]:
    """One operational notice about the current configuration problems (none: nothing). Returns the
    channels that took it; remembered in ``memory`` only when one did, so the next tick asks again."""
    from shared.checks.config_report import config_notice

    owed = config_notice(settings)
    if owed is None or memory.told == owed.once_key:  # this process told them already: no table round trip
        return []
    sent = await send_owed_notice(send, owed)
    if sent:  # nothing sent: told already (marker row) or every channel failed; the next tick asks again
        memory.told = owed.once_key
    return sent
