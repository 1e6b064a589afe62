"""Opt-in self-healing (``AUTO_RESTORE=true``): put a soft-deleted Webex service principal back.

Entra keeps a deleted service principal in the recycle bin for 30 days; restoring it
(``POST /directory/deletedItems/{id}/restore``, Application.ReadWrite.All) brings it back with the
same object id and its previous configuration (Microsoft documents every part but Conditional Access
policies). Whether the admin-consent grants came back with it is exactly what the verification run
checks (Webex answers 701018 otherwise), so a restore is a first attempt, not a claimed fix. It
changes the tenant, so it is tried at most once per incident and every outcome is told to people.

Where it hooks in: :func:`shared.app.pipeline.process_record` asks :func:`auto_restore` before the
opening notice of a deletion incident (``integration_deleted``, ``integration_hard_deleted``,
``identity_app_deleted``); the answer picks the notice. Not a new classifier ``Action``: the action
says what the admins' fix is (consent, re-run the wizard), and that stays true whenever the restore
cannot be done; *trying the restore first* is a deployment choice, so it is decided here, at the
pipeline, from the setting:

=============  ==========================================================================
outcome        what happens
=============  ==========================================================================
restored       the ``restored`` notice (what happened, restored automatically) and NO
               consent notice; verification runs as usual and ends with ``resolved``
impossible     hard delete, not in the recycle bin, older than 30 days, 403 (no
               permission), 404, another 4xx: the ``opened`` (consent) notice goes out,
               and says why in its ``reason``
failed         5xx, 429, timeout, unreadable recycle bin: as ``impossible`` — the restore
               may or may not have happened, so it is not tried again; verification
               resolves the incident if it did
not_needed     the app is present again (an admin was faster): the ``opened`` notice
in_progress    another worker holds the claim: this one sends nothing (the claimant does)
=============  ==========================================================================

Never twice, even with racing workers, Event Grid redeliveries or platform retries: the worker first
*claims* the restore on the incident row (ETag-checked: ``restore_attempted=True``,
``restore_outcome="claimed"``, ``restore_at``) and only the winner calls Graph, exactly once (no
in-process retry: a retried POST after a timeout could restore twice or undo an admin's later
purge). The outcome is recorded afterwards. A worker that dies between claim and record leaves
``claimed``: after :data:`RESTORE_LEASE` the next worker or verification run settles it as
``failed`` (the consent notice goes out) — the restore itself is never re-tried.

After a restore, :func:`follow_up` runs in every verification that is not healthy: if the app is
missing or disabled again, or its admin-consent grants are missing (Graph's
``oauth2PermissionGrants``, or Webex's 701018), the ``opened`` consent notice goes out, once per
channel, with that reason. Not before :data:`RESTORE_SETTLE` has passed since the restore: reads are
served by replicas, so right after the POST the restored object (and its grants) can still look
deleted — a notice then would be false. Microsoft documents that a restore brings back the object's
previous configuration except Conditional Access policies (directory-deleteditems-restore), not
whether grants and app role assignments come back; the simulator runs both ways.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from shared.core.clock import clock
from shared.core.errors import TransientError, UpstreamError
from shared.core.models import Kind
from shared.incidents.claims import claim, write
from shared.incidents.lifecycle import Step, lease_expired, reached

if TYPE_CHECKING:
    from shared.checks.report import HealthReport
    from shared.clients.graph import DeletedServicePrincipal, Graph
    from shared.core.settings import Settings
    from shared.incidents.notices import NoticeDeps
    from shared.incidents.store import Incident, IncidentStore

log = logging.getLogger(__name__)

RESTORE_LEASE = timedelta(minutes=2)
"""A claim older than this without an outcome belongs to a worker that died: settled as failed."""

RESTORE_SETTLE = timedelta(minutes=5)
"""How long after a restore a "missing" or "consent missing" reading is taken for replication lag
rather than for a restore that did not bring the app or its grants back."""

RECYCLE_BIN_DAYS = 30
DELETION_KINDS = frozenset({Kind.INTEGRATION_DELETED, Kind.INTEGRATION_HARD_DELETED, Kind.IDENTITY_APP_DELETED})
FINAL = frozenset({"restored", "impossible", "failed", "not_needed"})

_NOT_DONE = "Automatic restore was not done"


@dataclass(frozen=True, slots=True)
class RestoreDeps:
    """What the restore uses: the settings (``AUTO_RESTORE``, the catalogue), the incident store,
    Microsoft Graph (built on first use: msgraph-sdk is heavy), the Identity app's appId found by
    name (:func:`shared.checks.identity_app.resolve_identity_app`) and the incident's notices."""

    settings: Settings
    store: IncidentStore
    graph: Callable[[], Awaitable[Graph]]
    identity_app_id: Callable[[], Awaitable[str | None]]
    notices: NoticeDeps


def applies(settings: Settings, inc: Incident) -> bool:
    """Auto-restore is on and the incident is a deletion of a Webex service principal."""
    try:
        kind = Kind(inc.kind)
    except ValueError:
        return False
    return settings.auto_restore and kind in DELETION_KINDS


def _lease_expired(inc: Incident) -> bool:
    return lease_expired(inc.restore_at, RESTORE_LEASE, clock.now())


async def _record(store: IncidentStore, inc: Incident, outcome: str, reason: str | None) -> Incident:
    """Write the outcome over our own claim (or a stale one), never over a final outcome."""
    claimed_at = inc.restore_at

    def settle(c: Incident) -> Incident | None:
        if c.restore_outcome in FINAL or c.restore_at != claimed_at:
            return None
        return replace(c, restore_outcome=outcome, reason=reason)

    return await write(store, inc, settle, step=Step.RESTORE_RECORDED)


def _take_restore(inc: Incident, now: datetime) -> Callable[[Incident], tuple[Incident, bool] | None]:
    def take(c: Incident) -> tuple[Incident, bool] | None:
        if c.incident_id != inc.incident_id or c.restore_outcome is not None or c.restore_attempted:
            return None
        return replace(c, restore_attempted=True, restore_outcome="claimed", restore_at=now), True

    return take


async def auto_restore(deps: RestoreDeps, inc: Incident) -> tuple[Incident, str]:
    """Claim, then try the restore once; returns the stored incident and the outcome (see module)."""
    if inc.restore_outcome in FINAL:
        return inc, str(inc.restore_outcome)
    if inc.restore_outcome == "claimed":
        if not _lease_expired(inc):
            return inc, "in_progress"
        why = f"{_NOT_DONE}: the attempt did not complete (the worker stopped)."
        inc = await _record(deps.store, inc, "failed", why)
        return inc, str(inc.restore_outcome)

    got = await claim(deps.store, inc, _take_restore(inc, clock.now()), step=Step.RESTORE_CLAIMED)
    claimed = got.incident
    if claimed is None:
        return inc, "in_progress"  # the incident closed under us
    if not got.won:  # another worker claimed first (or decided already)
        return claimed, str(claimed.restore_outcome) if claimed.restore_outcome in FINAL else "in_progress"

    outcome, reason = await _attempt(deps, claimed)
    reached(Step.RESTORE_DONE)
    log.info(
        "auto-restore for incident %s: %s (%s)", claimed.incident_id, outcome, reason or "-",
        extra={"event": "auto_restore", "outcome": outcome},
    )  # fmt: skip
    recorded = await _record(deps.store, claimed, outcome, reason)
    return recorded, str(recorded.restore_outcome or outcome)


def _pick(deleted: list[DeletedServicePrincipal], target_id: str | None) -> DeletedServicePrincipal:
    """The incident's own object when the bin holds it, else the most recently deleted copy."""
    for d in deleted:
        if target_id and d.id.lower() == target_id.lower():
            return d
    return max(deleted, key=lambda d: d.deleted_at or datetime.min.replace(tzinfo=clock.now().tzinfo))


async def _attempt(deps: RestoreDeps, inc: Incident) -> tuple[str, str | None]:
    """The restore itself, after the claim. Returns (outcome, reason shown to admins)."""
    if Kind(inc.kind) is Kind.INTEGRATION_HARD_DELETED:
        return "impossible", (
            f"{_NOT_DONE}: the application was permanently deleted (hard delete), so nothing is left in the "
            "recycle bin to restore."
        )
    app_id = inc.app_id
    try:
        if not app_id and inc.app_key == deps.settings.catalogue.identity.key:
            # An incident opened from an audit record matched by name carries no appId; the one
            # found by name earlier and remembered (shared.checks.identity_app) finds the recycle-bin copy.
            app_id = await deps.identity_app_id()
        if not app_id:
            return "impossible", (
                f"{_NOT_DONE}: the app's appId is not configured (WEBEX_IDENTITY_APP_ID) and was never seen by name."
            )
        graph = await deps.graph()
        if await graph.service_principals_by_app_id(app_id):
            return "not_needed", (
                f"{_NOT_DONE}: the service principal is present again (restored or re-created by an admin)."
            )
        deleted = await graph.deleted_service_principals(app_id)
    except (TransientError, UpstreamError) as exc:
        return "failed", f"{_NOT_DONE}: the recycle bin could not be read ({exc})."
    if not deleted:
        return "impossible", (
            f"{_NOT_DONE}: the service principal is not in the Microsoft Entra recycle bin (permanently "
            "deleted, or purged after 30 days)."
        )
    gone = _pick(deleted, inc.target_object_id)
    if gone.deleted_at is not None and clock.now() - gone.deleted_at > timedelta(days=RECYCLE_BIN_DAYS):
        return "impossible", f"{_NOT_DONE}: the service principal was deleted more than {RECYCLE_BIN_DAYS} days ago."
    try:
        await graph.restore_deleted(gone.id)
    except UpstreamError as exc:
        why = {
            403: "the app's identity is not allowed to restore it (it needs Application.ReadWrite.All)",
            404: "the recycle-bin entry was gone when the restore ran (purged or restored by someone else)",
        }.get(exc.status or 0, "Microsoft Graph refused the restore")
        return "impossible", f"{_NOT_DONE}: {why} — {exc}."
    except TransientError as exc:
        return "failed", (
            f"Automatic restore was tried but Microsoft Graph did not confirm it ({exc}); it is not retried. "
            "If the app is back, this incident resolves by itself."
        )
    return "restored", None


STATUS_LAG = timedelta(minutes=15)
"""How long Webex's (undocumented) status call may lag Entra after a restore. Within it, its 701018
is not taken as "the grants did not come back" unless Graph, the primary witness, says so too."""


def _grants_unseen(inc: Incident, report: HealthReport) -> bool:
    """Whether Webex's 701018 after a restore means missing grants: Graph's consent check decides
    when it ran; without it (no Directory.Read.All) only once the status call's lag has passed."""
    grant = report.first("graph.consent_grant.", inc.app_key)
    if grant is not None and grant.verdict in ("healthy", "consent_missing"):
        return grant.verdict == "consent_missing"
    return inc.restore_at is None or clock.now() - inc.restore_at >= STATUS_LAG


def _after_restore_problem(inc: Incident, report: HealthReport) -> str | None:
    """Why the consent notice must go out after all, from a verification's checks (or ``None``)."""
    if inc.restore_outcome != "restored":
        return None
    seen: list[str] = []
    for result in report.for_app(inc.app_key):
        if result.name.startswith("graph.service_principal.") and result.verdict in ("missing", "disabled"):
            return f"The app was restored automatically, but verification finds it {result.verdict} again."
        if result.name.startswith("graph.consent_grant.") and result.verdict == "consent_missing":
            seen.append("Microsoft Graph lists no admin-consent grant for it")
        if result.name == "webex.sync_status" and result.verdict == "consent_missing" and _grants_unseen(inc, report):
            seen.append("Webex still reports that admin consent is missing (code 701018)")
    if seen:
        return (
            "The app was restored automatically, but its permission grants did not come back: "
            + "; ".join(seen)
            + ". Grant admin consent."
        )
    return None


async def follow_up(deps: RestoreDeps, inc: Incident, report: HealthReport) -> Incident:
    """In a verification that is not healthy: settle a stale claim, and send the consent notice
    (``opened``, once per channel) when the restore did not fix the app."""
    from shared.incidents.notices import deliver
    from shared.notify.view import NoticeKind

    if not inc.restore_attempted:
        return inc
    if inc.restore_outcome == "claimed":
        if not _lease_expired(inc):
            return inc
        inc, _ = await auto_restore(deps, inc)  # settles as failed; never re-tried
        inc, _ = await deliver(deps.notices, inc, NoticeKind.OPENED)
        return inc
    reason = _after_restore_problem(inc, report)
    if reason is None:
        return inc
    if inc.restore_at is not None and clock.now() - inc.restore_at < RESTORE_SETTLE:
        log.info("after the restore: %s — within %s, read as replication lag; checked again", reason, RESTORE_SETTLE)
        return inc

    def note(c: Incident) -> Incident | None:
        return replace(c, reason=reason) if c.reason != reason else None

    inc = await write(deps.store, inc, note, step=Step.REASON_NOTED)
    inc, _ = await deliver(deps.notices, inc, NoticeKind.OPENED)
    return inc
