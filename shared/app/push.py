"""Entry points for pushed payloads: Event Grid events and Azure Monitor alerts.

Both arrive at-least-once (Event Grid retries for 24 h, action groups up to 5 times), so both go
through the same pipeline whose dedupe makes repeats harmless. A log search alert carries no rows:
its window is re-queried in the workspace, widened by ``ALERT_QUERY_PADDING_MINUTES`` because audit
records reach Log Analytics minutes after the change. A ``Resolved`` alert closes nothing: only a
verification run that sees Webex sync working resolves an incident.

Since the push triggers defer to the intake queue (:mod:`shared.detect.intake`), this runs in the intake
queue function. An alert window already re-queried (same alert id and condition: the action group's
retries) is skipped by its ``alertq-`` marker row, so six deliveries ask the workspace once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from shared.core.errors import ConfigError

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

    from shared.app.pipeline import PipelineDeps, RecordOutcome
    from shared.clients.checkpoints import Checkpoints
    from shared.clients.loganalytics import WindowRows
    from shared.core.models import AlertWindow, Extraction
    from shared.core.settings import Settings
    from shared.incidents.operational import OperationalDeps

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PushDeps:
    """What processing a pushed payload uses: the settings, the checkpoint rows (alert re-query
    markers), the credential for Log Analytics (built on first use), the pipeline and the
    operational notices."""

    settings: Settings
    checkpoints: Checkpoints
    credential: Callable[[], AsyncTokenCredential]
    pipeline: PipelineDeps
    operational: OperationalDeps


@dataclass(slots=True)
class IngestResult:
    outcomes: list[RecordOutcome] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "records": len(self.outcomes),
            "outcomes": [o.as_dict() for o in self.outcomes],
            "alerts": self.alerts,
            "skipped": self.skipped,
        }


def alert_query(settings: Settings) -> str:
    from shared.detect.kql import default_alert_query

    return settings.alert_query.strip() or default_alert_query(settings.webex_identity_app_id)


async def rows_for_alert(deps: PushDeps, window: AlertWindow) -> list[dict[str, Any]]:
    from shared.clients.loganalytics import query_window
    from shared.core.clock import clock

    s = deps.settings
    workspace = s.log_analytics_workspace_id  # never one the alert names: see intake.window_problem
    if not workspace:
        raise ConfigError(["LOG_ANALYTICS_WORKSPACE_ID: missing (needed to re-query log search alerts)"])
    pad = timedelta(minutes=s.alert_query_padding_minutes)
    start = window.start - pad
    end = min(window.end + pad, clock.now())
    if end <= start:
        end = start + timedelta(minutes=1)
    got = await query_window(
        deps.credential(),
        endpoint=s.log_analytics_endpoint,
        workspace_id=workspace,
        query=alert_query(s),
        start=start,
        end=end,
    )
    if got.partial is not None:
        await _partial_reported(deps.operational, window, got)
    return got.rows


async def _partial_reported(operational: OperationalDeps, window: AlertWindow, got: WindowRows) -> None:
    """A partial result met while re-querying an alert: logged every time, one operational notice
    ever (a limit that recurs would otherwise mail the admins on every alert)."""
    from shared.incidents.operational import OperationalNotice, send_operational

    how = "narrowing the window read every part whole" if got.complete else "some parts stayed partial"
    log.warning(
        "alert %s: Log Analytics returned a partial result (%s); %s over %s queries",
        window.alert_id, got.partial, how, got.queries,
        extra={"event": "la_partial_result", "complete": got.complete, "queries": got.queries},
    )  # fmt: skip
    notice = OperationalNotice(
        kind="log_analytics_partial_result",
        title="Log Analytics returned a partial result for the alert re-query",
        lines=(
            "The workspace answered the re-query of a log search alert with part of the rows and an error "
            "(usually a result-size limit). The window was split into smaller ones and read again: " + how + ".",
            "If this recurs, narrow ALERT_QUERY (fewer columns or rows) or shorten the alert's window. "
            "This notice is sent once; later occurrences are only logged (event la_partial_result).",
            f"Evidence: {got.partial}",
        ),
    )
    try:
        await send_operational(operational, notice, once_key="log-analytics-partial-result")
    except Exception:  # the rows matter more than the notice
        log.exception("could not send the Log Analytics partial-result notice")


async def ingest(deps: PushDeps, extraction: Extraction) -> IngestResult:
    """Process an extraction: its records now, and its alert windows' rows after a re-query."""
    from shared.app.pipeline import process_extraction
    from shared.core.clock import clock
    from shared.detect.intake import window_problem
    from shared.detect.normalize import extract

    result = IngestResult(skipped=list(extraction.skipped))
    result.outcomes.extend(await process_extraction(deps.pipeline, extraction))
    marks = deps.checkpoints
    for window in extraction.alerts:
        label = f"{window.alert_id} ({window.condition})"
        if window.condition.lower() == "resolved":
            log.info("alert %s resolved: nothing to close; verification decides", window.alert_id)
            result.alerts.append(f"{label}: resolved, no action")
            continue
        if await marks.alert_done(window.alert_id, window.condition):
            log.info("alert %s already re-queried: repeat delivery skipped", window.alert_id)
            result.alerts.append(f"{label}: already re-queried")
            continue
        problem = window_problem(window, workspace_id=deps.settings.log_analytics_workspace_id, now=clock.now())
        if problem:  # refused at the endpoint since; a message queued before, or forged, ends here
            log.error("alert %s not re-queried (dropped, not retried): %s", window.alert_id, problem)
            result.alerts.append(f"{label}: not re-queried: {problem}")
            continue
        rows = await rows_for_alert(deps, window)
        if rows:
            more = extract(rows)
            result.outcomes.extend(await process_extraction(deps.pipeline, more))
            result.skipped.extend(more.skipped)
        await marks.mark_alert_done(window.alert_id, window.condition, len(rows))
        result.alerts.append(f"{label}: {len(rows)} rows re-queried")
    return result


async def ingest_payload(deps: PushDeps, payload: Any) -> IngestResult:
    """Normalize any supported payload (already parsed JSON) and process it."""
    from shared.detect.normalize import extract

    return await ingest(deps, extract(payload))
