"""No secret ever reaches a log line, across a whole incident lifecycle, at DEBUG, from any logger.

Known secret values are configured (function key on the alert request, Webex tokens, the webhook
signing secret, the Teams workflow URL's signature, the client secret the token endpoint checks, the
bearer token the simulator issued), then a deletion goes event → notices on every channel (one of
them failing once, so error paths log too) → a failed verification → consent → resolution. Every
record any logger emitted (the SDKs' included) is formatted with its traceback and scanned.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import azure.functions as func
import pytest

from simulator.receivers import HOOKS_PREFIX, TEAMS_PREFIX
from tests.helpers import incidents
from tests.test_faults import _alert_now

TEAMS_PATH = TEAMS_PREFIX + "/wf-webex-remediator/triggers/manual/paths/invoke"
WEBHOOK_PATH = HOOKS_PREFIX + "/itsm"

FUNCTION_KEY = "fnkey-Zx9Qm2Lr7Tp4Wv8Ys1Nb6Hc3Jd5Kf0Ga"
TEAMS_SIG = "tsig-Qw3Er5Ty7Ui9Op1As2Df4Gh6Jk8Lz0Xc"
HOOK_SECRET = "whsec-Mn1Bv2Cx3Za4Sd5Fg6Hj7Kl8Po9Iu0Yt"


def _all_text(records: list[logging.LogRecord]) -> str:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    lines = []
    for record in records:
        lines.append(formatter.format(record))
        lines.append(repr(getattr(record, "args", None)))
        lines.extend(
            repr(v) for k, v in vars(record).items() if k not in logging.LogRecord("", 0, "", 0, "", (), None).__dict__
        )
    return "\n".join(lines)


async def _verify(svc: Any) -> Any:
    from shared.app.verification import run_verification
    from shared.clients.verify_queue import VerifyMessage
    from shared.core.errors import TransientError

    (inc,) = await incidents()
    try:
        return await run_verification(
            svc.verification_deps(), VerifyMessage(inc.tenant_id, inc.app_key, inc.incident_id, inc.verify_attempts)
        )
    except TransientError:
        return None


async def test_no_secret_in_any_log_line(
    sim: Any,
    app_functions: dict[str, Any],
    services_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from shared.app.push import ingest_payload
    from shared.app.runtime import get_services, reset_services
    from shared.core.errors import TransientError
    from shared.core.settings import reset_settings

    base = services_env["SIMULATOR_URL"]
    monkeypatch.setenv("TEAMS_WEBHOOK_URL", f"{base}{TEAMS_PATH}?api-version=1&sp=%2Ftriggers&sig={TEAMS_SIG}")
    monkeypatch.setenv("NOTIFY_WEBHOOK_URL", base + WEBHOOK_PATH)
    monkeypatch.setenv("NOTIFY_WEBHOOK_SECRET", HOOK_SECRET)
    reset_settings()
    await reset_services()
    caplog.set_level(logging.DEBUG)  # the root logger: every library's records too
    for name in ("httpx", "httpcore", "azure", "msgraph", "kiota_http", "urllib3", "aiohttp"):
        logging.getLogger(name).setLevel(logging.DEBUG)

    svc = await get_services()
    bearer = (await svc.credential().get_token(svc.settings.graph_scope)).token
    secrets = {
        "function key": FUNCTION_KEY,
        "WEBEX_ACCESS_TOKEN": services_env["WEBEX_ACCESS_TOKEN"],
        "WEBEX_BOT_TOKEN": services_env["WEBEX_BOT_TOKEN"],
        "NOTIFY_WEBHOOK_SECRET": HOOK_SECRET,
        "Teams workflow signature": TEAMS_SIG,
        "client secret": services_env["AZURE_CLIENT_SECRET"],
        "issued bearer token": bearer,
    }
    assert all(len(v) >= 12 for v in secrets.values()), "secrets long enough that a match is not chance"

    # The alert endpoint with the function key in the query and the header (a Resolved alert: 202).
    alert = _alert_now()
    alert["data"]["essentials"]["monitorCondition"] = "Resolved"
    keyed = func.HttpRequest(
        method="POST",
        url=f"https://app.example/api/alerts?code={FUNCTION_KEY}",
        headers={"content-type": "application/json", "x-functions-key": FUNCTION_KEY},
        body=json.dumps(alert).encode(),
        params={"code": FUNCTION_KEY},
    )
    response = await app_functions["monitor_alert"].get_user_function()(keyed)
    assert response.status_code == 202

    # Event → notices; the Webex message and the webhook fail once (401 / 500) so error paths log.
    (record,) = [r for r in await sim.delete("integration") if "Delete" in r["activityDisplayName"]][:1]
    await sim.add_fault(r"^/webexapis/v1/messages$", method="POST", status=401, times=1)
    await sim.add_fault(WEBHOOK_PATH + "$", method="POST", status=500, times=1)
    with pytest.raises(TransientError):
        await ingest_payload(svc.push_deps(), record)
    await ingest_payload(svc.push_deps(), record)  # the platform's retry
    await _verify(svc)  # still broken
    await sim.consent(actor="admin@contoso.example")
    await _verify(svc)
    (inc,) = await incidents()
    assert inc.state == "resolved"

    text = _all_text(caplog.records)
    assert len(caplog.records) > 20, "the lifecycle logged (or the capture is broken)"
    leaked = {name for name, value in secrets.items() if value in text}
    assert not leaked, f"secrets in log lines: {sorted(leaked)}"
