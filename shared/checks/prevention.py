"""Prevention, off by default (``PREVENTION_NOTES=true``): a warning in the Webex apps' notes.

Most outages start with an admin tidying up enterprise applications who does not know what
"Cisco Webex Identity Integration" is for. The service principal's ``notes`` field is shown on its
Properties page in the Entra admin center, right where that admin looks before deleting, so the
project writes :data:`NOTE` there (``PATCH /servicePrincipals/{id}``, Application.ReadWrite.All).

Why from the health-check timer and not at verification success: prevention matters *before* the
first outage, and a deployment with no incident never verifies anything; the timer runs on every
deployment, and it already reads both service principals by appId each tick, so with ``notes`` in
that ``$select`` the idempotency check costs no extra Graph call — only a missing note costs one
PATCH. The timer also puts the note back on a service principal that consent re-created under a
new object id (its notes are empty again).

Idempotent and polite: the note is written only when :data:`MARKER` is absent; an admin's existing
text is kept and the note appended after it; if both would exceed Entra's 1,024-character limit,
nothing is written (logged), rather than cutting the admin's text. A failure (403 without the
permission, throttling) is logged and retried on a later tick; it never fails the health check.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from shared.core.catalogue import WIZARD_HELP
from shared.core.errors import TransientError, UpstreamError

if TYPE_CHECKING:
    from shared.checks.report import HealthReport

log = logging.getLogger(__name__)

MARKER = "Required by Webex directory sync"
NOTE = (
    f"{MARKER} — deleting or disabling this enterprise application stops user and group sync from "
    f"Microsoft Entra ID to Webex (Control Hub: “The request was unauthorized”); see {WIZARD_HELP}"
)
NOTES_MAX = 1024
"""Entra's limit on a service principal's ``notes``."""


class NotesWriter(Protocol):
    """The one Graph write prevention makes (``shared.clients.graph.Graph.update_notes``)."""

    async def update_notes(self, object_id: str, notes: str) -> None: ...


@dataclass(frozen=True, slots=True)
class NoteOutcome:
    app_key: str
    object_id: str
    outcome: str  # written | present | too_long | failed


def with_note(existing: str | None) -> str | None:
    """The notes with :data:`NOTE` appended, or ``None`` when it is there already or cannot fit."""
    current = (existing or "").rstrip()
    if MARKER.lower() in current.lower():
        return None
    updated = f"{current}\n\n{NOTE}" if current else NOTE
    return updated if len(updated) <= NOTES_MAX else None


async def ensure_notes(graph: NotesWriter, report: HealthReport) -> list[NoteOutcome]:
    """Write the note on each Webex service principal the checks found present and lacking it."""
    outcomes: list[NoteOutcome] = []
    for result in report.results:
        if not result.name.startswith("graph.service_principal.") or result.object_id is None:
            continue
        if result.verdict not in ("healthy", "disabled") or result.app_key is None:
            continue  # missing (nothing to write on) or not read (degraded): next tick
        updated = with_note(result.notes)
        if updated is None:
            present = MARKER.lower() in (result.notes or "").lower()
            if not present:
                log.warning("notes of %s are too long to add the warning; left as they are", result.app_key)
            outcomes.append(NoteOutcome(result.app_key, result.object_id, "present" if present else "too_long"))
            continue
        try:
            await graph.update_notes(result.object_id, updated)
        except (TransientError, UpstreamError) as exc:
            log.warning("could not write the prevention note on %s: %s", result.app_key, exc)
            outcomes.append(NoteOutcome(result.app_key, result.object_id, "failed"))
            continue
        log.info("prevention note written on %s (%s)", result.app_key, result.object_id)
        outcomes.append(NoteOutcome(result.app_key, result.object_id, "written"))
    return outcomes
