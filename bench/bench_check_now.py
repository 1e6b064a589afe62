"""Consent → "fixed" notice when the admin clicks Check now, against Azurite and the simulator.

``python -m devtools.services -- python bench/bench_check_now.py [rounds]``. Each round: a deletion
opens an incident (notices out), the admin grants consent in the simulator, then the Check now link
of the notice is followed through the registered HTTP function as a browser would — GET (the
confirmation page) then POST (the form) — and the clock stops when the simulator's mail receiver has
the "[Resolved]" notice. The link is taken from the sent e-mail when the e-mail renders it, else from
the notice's view (``link_from`` says which). Goal: ≤ 10 s (before: the next scheduled verification,
1–30 min into the backoff). Prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BASE = "https://func-bench.azurewebsites.net"
LINK = re.compile(re.escape(BASE) + r"/api/actions/([A-Za-z0-9_.-]+)")


async def check_now_link(control: Any, svc: Any, inc: Any) -> tuple[str, str]:
    for mail in reversed((await control.state())["sent_mails"]):
        body = json.dumps(mail)
        tokens = LINK.findall(body)
        if tokens:
            from shared.core.action_links import LinkAction, verify
            from shared.core.clock import clock

            for token in tokens:
                claims = verify(token, svc.settings.link_keys(), now=clock.now())
                if claims.action is LinkAction.CHECK_NOW and claims.incident_id == inc.incident_id:
                    return token, "email"
    from shared.incidents.notices import view_for
    from shared.notify.view import NoticeKind

    url = view_for(svc.settings, inc, NoticeKind.OPENED).check_now_url
    assert url is not None, "links are off"
    return url.rsplit("/", 1)[1], "view"


async def one_round(handler: Any, control: Any) -> tuple[float, str]:
    import azure.functions as func

    from shared.app.push import ingest_payload
    from shared.app.runtime import get_services

    await control.reset()
    svc = await get_services()
    deletion = next(r for r in await control.delete("integration") if "Delete" in r["activityDisplayName"])
    result = await ingest_payload(svc.push_deps(), deletion)
    assert [o.outcome for o in result.outcomes] == ["opened"], result.summary()
    (inc,) = [i for i in await svc.store().list_incidents(svc.settings.tenant_id) if i.is_open]
    token, source = await check_now_link(control, svc, inc)
    await control.consent(actor="admin@contoso.example")

    started = time.perf_counter()
    page = await handler(func.HttpRequest(method="GET", url=f"{BASE}/api/actions/{token}", headers={},
                                          route_params={"token": token}, body=b""))  # fmt: skip
    assert page.status_code == 200, page.get_body()[:200]
    form = urlencode({"incident": inc.incident_id, "action": "check_now"}).encode()
    post = func.HttpRequest(method="POST", url=f"{BASE}/api/actions/{token}", route_params={"token": token},
                            headers={"content-type": "application/x-www-form-urlencoded"}, body=form)  # fmt: skip
    done = await handler(post)
    assert done.status_code == 200 and b"Fixed" in done.get_body(), done.get_body()[:400]
    while True:
        mails = (await control.state())["sent_mails"]
        if any(str(m["message"]["subject"]).startswith("[Resolved]") for m in mails):
            break
        if time.perf_counter() - started > 60:
            raise AssertionError("no resolved notice within 60 s")
        await asyncio.sleep(0.05)
    return time.perf_counter() - started, source


async def run(rounds: int) -> dict[str, object]:
    import function_app
    from shared.app.runtime import reset_services
    from simulator.client import SimulatorControl

    handler = next(f for f in function_app.app.get_functions() if f.get_function_name() == "notice_action")
    control = SimulatorControl(os.environ["SIMULATOR_URL"], verify=os.environ["SSL_CERT_FILE"])
    seconds, sources = [], set()
    for _ in range(rounds):
        os.environ["INCIDENTS_TABLE"] = "bench" + uuid.uuid4().hex[:10]
        from shared.core.settings import reset_settings

        reset_settings()
        await reset_services()
        elapsed, source = await one_round(handler.get_user_function(), control)
        seconds.append(elapsed)
        sources.add(source)
    await reset_services()
    await control.aclose()
    return {
        "bench": "check_now",
        "rounds": rounds,
        "seconds_to_fixed_notice": round(statistics.median(seconds), 3),
        "max_seconds": round(max(seconds), 3),
        "goal_seconds": 10,
        "link_from": "+".join(sorted(sources)),
    }


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    os.environ.setdefault("MAIL_SENDER", "webex-alerts@contoso.example")
    os.environ.setdefault("MAIL_TO", "it-admins@contoso.example")
    os.environ["ACTION_LINK_KEY"] = os.urandom(32).hex()
    os.environ["PUBLIC_BASE_URL"] = BASE
    figures = asyncio.run(run(rounds))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
