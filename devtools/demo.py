"""``python -m shared.cli demo``: one whole incident lifecycle on local stand-ins.

It runs the same core the Functions triggers call — the Event Grid payload classified and written
to the intake queue, intake and verification messages taken off the real Storage queues in Azurite
— against the
loopback simulator standing in for Microsoft Graph, Entra ID and Webex. ``make demo`` starts both
services; the demo only needs ``SIMULATOR_URL`` and ``AzureWebJobsStorage``. Verification delays are
shortened to seconds so the story fits in a terminal.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

ACTOR = "j.doe@contoso.example"
ADMIN = "global.admin@contoso.example"


def run_demo(*, out: TextIO, err: TextIO, output_dir: str) -> int:
    missing = [n for n in ("SIMULATOR_URL", "AzureWebJobsStorage", "SSL_CERT_FILE") if not os.environ.get(n)]
    if missing:
        print(f"demo: {', '.join(missing)} not set — run it with `make demo`", file=err)
        return 2
    return asyncio.run(_demo(out, Path(output_dir)))


@dataclass
class _Run:
    """What every step of the demo uses: the process's clients, the simulator's scenario API and
    the timeline printer."""

    svc: Any
    control: Any
    out: TextIO
    started: float = field(default_factory=time.monotonic)

    def say(self, text: str) -> None:
        self.out.write(f"[{time.monotonic() - self.started:6.2f}s] {text}\n")
        self.out.flush()


async def _demo(out: TextIO, folder: Path) -> int:
    from shared.app.runtime import Services, reset_services
    from shared.core.settings import load_settings, storage_config
    from simulator.client import SimulatorControl

    env = {
        "MAIL_SENDER": "webex-alerts@contoso.example",
        "MAIL_TO": "identity-admins@contoso.example",
        **os.environ,
        "VERIFY_DELAYS": "1,2,2",
        "INCIDENTS_TABLE": "demo" + uuid.uuid4().hex[:10],
        **_link_settings(),
    }
    os.environ.update(env)  # the HTTP function the demo clicks through reads the same settings
    settings = load_settings(env)
    run = _Run(Services(settings, storage_config(env)),
               SimulatorControl(os.environ["SIMULATOR_URL"], verify=os.environ["SSL_CERT_FILE"]), out)  # fmt: skip
    try:
        await run.control.reset()
        await run.svc.ready()
        run.say(f"tenant {settings.tenant_id}: both Webex apps present, Webex directory sync healthy")
        inc = await _delete_and_push(run)
        attempts, resolved_by = await _verify_until_fixed(run, inc)
        summary = await _close(run, inc, folder, attempts=attempts, resolved_by=resolved_by)
        out.write(json.dumps(summary, sort_keys=True) + "\n")
        return 0 if summary["resolved"] else 1
    finally:
        await reset_services()  # the HTTP function's own clients
        await run.svc.aclose()
        await run.control.aclose()


async def _delete_and_push(run: _Run) -> Any:
    """Someone deletes the integration; Event Grid delivers the audit record three times; the
    intake queue's trigger opens one incident and notifies."""
    from shared.app.push import ingest
    from shared.detect.intake import decode_all, prepare
    from shared.detect.normalize import extract

    svc, settings = run.svc, run.svc.settings
    record = (await run.control.delete("integration", actor=ACTOR))[-1]
    run.say(f"{ACTOR} deletes “Cisco Webex Identity Integration” (audit record {record['id']})")
    event_id = str(uuid.uuid4())
    envelope = {"id": event_id, "eventType": "Webex.AuditRecord", "subject": "auditLogs/directoryAudits",
                "eventTime": record.get("activityDateTime"), "dataVersion": "1.0", "data": record}  # fmt: skip
    for _ in range(3):  # Event Grid is at-least-once: deliver the same event three times
        # What the Event Grid trigger does: CPU-only classification, one durable queue write.
        intake = prepare(extract(envelope), settings.catalogue, origin="eventgrid", ref=event_id)
        await svc.intake().send_all(intake.encoded())
    run.say("Event Grid delivered the event 3 times; each was acknowledged after one intake-queue write")
    outcomes: list[str] = []
    for intake_message in decode_all(await svc.intake().receive()):  # what the intake queue trigger does
        result = await ingest(svc.push_deps(), intake_message.extraction())
        outcomes.extend(o.outcome for o in result.outcomes)
    inc = await svc.store().get_open(settings.tenant_id, "integration")
    assert inc is not None, "the deletion must open an incident"
    run.say(f"intake queue processed ({', '.join(outcomes)}): kind {inc.kind}")
    run.say(f"incident {inc.incident_id} opened (state {inc.state})")
    for key, d in sorted(inc.deliveries.items()):
        run.say(f"notified: {key.split('/')[0]} ({d.status})")
    return inc


async def _next_batch(run: _Run) -> list[Any]:
    """The next verification messages, as the queue trigger gets them once their delay is over."""
    for _ in range(40):
        batch: list[Any] = await run.svc.queue().receive()
        if batch:
            return batch
        await asyncio.sleep(0.25)
    return []


async def _verify_until_fixed(run: _Run, inc: Any) -> tuple[int, str]:
    """Scheduled verification runs until the first says "still broken"; then the admin consents and
    clicks the notice's Check now link. Returns the runs counted and what resolved the incident."""
    from shared.app.verification import run_verification

    attempts, consented, outcome, resolved_by = 0, False, "rescheduled", "scheduled_verification"
    while outcome != "resolved" and attempts < 8:
        batch = await _next_batch(run)
        if not batch:
            break
        for message, _raw in batch:
            result = await run_verification(run.svc.verification_deps(), message)
            if result.outcome == "stale":
                continue
            attempts, outcome = attempts + 1, result.outcome
            verdicts = ", ".join(f"{n}={v}" for n, v in result.verdicts)
            run.say(f"verification {attempts}: {outcome} ({verdicts})")
        if outcome != "resolved" and not consented:
            await run.control.consent(actor=ADMIN)
            consented = True
            run.say(f"{ADMIN} opens the consent URL and accepts: the service principal is re-created")
            outcome = await _click_check_now(run.svc, run.control, inc, run.say)
            attempts += 1
            resolved_by = {"resolved": "check_now"}.get(outcome, resolved_by)
    return attempts, resolved_by


async def _close(run: _Run, inc: Any, folder: Path, *, attempts: int, resolved_by: str) -> dict[str, Any]:
    """The closing timeline lines, the notices and status page written out, and the summary."""
    closed = await run.svc.store().get_closed(run.svc.settings.tenant_id, inc.incident_id)
    ttr = closed.time_to_recover if closed else None
    if closed is not None:
        run.say(f"incident {inc.incident_id} resolved; time to recover {ttr}")
    files = _write_notices(await run.control.state(), folder)
    status_page = await _write_status_page(run.svc, folder)
    for f in [*files, status_page]:
        run.say(f"wrote {f}")
    per_channel: dict[str, int] = {}
    for key, d in (closed.deliveries if closed else {}).items():
        if d.status == "sent":
            channel = key.split("/")[0]
            per_channel[channel] = per_channel.get(channel, 0) + 1
    return {
        "incident_id": inc.incident_id,
        "kind": inc.kind,
        "notifications": per_channel,
        "verification_attempts": attempts,
        "resolved": closed is not None and closed.state == "resolved",
        "time_to_recover_seconds": round(ttr.total_seconds(), 3) if ttr else None,
        "resolved_by": resolved_by,
        "status_page": status_page,
    }


def _link_settings() -> dict[str, str]:
    """Signed Check now / Acknowledge links, pointing at the local Functions host's address."""
    return {
        "ACTION_LINK_KEY": os.environ.get("ACTION_LINK_KEY") or secrets.token_urlsafe(48),
        "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL") or "https://localhost:7071",  # func start --useHttps
    }


async def _check_now_token(svc: Any, control: Any, inc: Any) -> tuple[str, str]:
    """The Check now link of the incident: from the e-mail as sent, else (a renderer without the
    links) from the notice's view."""
    from shared.core.action_links import LinkAction, LinkError, verify
    from shared.core.clock import clock

    keys = svc.settings.link_keys()
    for mail in (await control.state()).get("sent_mails", []):
        for token in re.findall(r"/api/actions/([A-Za-z0-9_.-]+)", json.dumps(mail)):
            try:
                claims = verify(token, keys, now=clock.now())
            except LinkError:
                continue
            if claims.action is LinkAction.CHECK_NOW and claims.incident_id == inc.incident_id:
                return str(token), "in the e-mail"
    from shared.incidents.notices import view_for
    from shared.notify.view import NoticeKind

    url = view_for(svc.settings, inc, NoticeKind.OPENED).check_now_url
    assert url is not None, "action links are off"
    return url.rsplit("/", 1)[1], "of the notice (this e-mail renderer does not show it)"


async def _click_check_now(svc: Any, control: Any, inc: Any, say: Any) -> str:
    """Follow the notice's Check now link through the registered HTTP function as a browser does:
    GET (the confirmation page, which changes nothing), then POST its form."""
    from urllib.parse import urlencode

    import azure.functions as func

    import function_app

    handler = next(f for f in function_app.app.get_functions() if f.get_function_name() == "notice_action")
    call = handler.get_user_function()
    token, where = await _check_now_token(svc, control, inc)
    url = f"{svc.settings.public_base_url}/api/actions/{token}"
    page = await call(func.HttpRequest(method="GET", url=url, headers={}, route_params={"token": token}, body=b""))
    say(f"{ADMIN} clicks “Check now” {where}: confirmation page ({page.status_code})")
    form = urlencode({"incident": inc.incident_id, "action": "check_now"}).encode()
    done = await call(func.HttpRequest(method="POST", url=url, route_params={"token": token}, body=form,
                                       headers={"content-type": "application/x-www-form-urlencoded"}))  # fmt: skip
    body = done.get_body().decode()
    outcome = "resolved" if done.status_code == 200 and '<h1 class="ok">Fixed</h1>' in body else "rescheduled"
    say(f"… and confirms: {done.status_code}, {'fixed' if outcome == 'resolved' else 'still broken'}")
    return outcome


async def _write_status_page(svc: Any, folder: Path) -> str:
    """The status page as an admin would see it after the incident (status.html)."""
    from shared.app.pages import render_page
    from shared.app.status import StatusDeps, status_snapshot
    from shared.clients.health_rows import HealthRows
    from shared.clients.storage import table_client
    from shared.core.clock import clock

    async with table_client(svc.storage, svc.settings.incidents_table) as table:
        deps = StatusDeps(incidents=svc.store(), health=HealthRows(table, svc.settings.tenant_id),
                          catalogue=svc.settings.catalogue, tenant_id=svc.settings.tenant_id)  # fmt: skip
        snapshot = await status_snapshot(deps, now=clock.now())
    return _save(folder, "status.html", render_page("status.html.j2", title="Status", s=snapshot))


def _save(folder: Path, name: str, text: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return str(folder / name)


def _write_notices(state: dict[str, Any], folder: Path) -> list[str]:
    """Save what the simulator received, as a person would see it: e-mails as HTML, Webex as markdown."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for i, mail in enumerate(state.get("sent_mails", [])):
        name = "email-opened.html" if i == 0 else f"email-{i + 1}.html"
        (folder / name).write_text(mail["message"]["body"]["content"], encoding="utf-8")
        text = mail["message"].get("textBody")
        if text:
            (folder / name.replace(".html", ".txt")).write_text(text, encoding="utf-8")
        written.append(str(folder / name))
    for i, msg in enumerate(state.get("webex_messages", [])):
        name = f"webex-{i + 1}.md"
        (folder / name).write_text(msg.get("markdown") or msg.get("text") or "", encoding="utf-8")
        written.append(str(folder / name))
    return written
