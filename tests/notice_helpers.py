"""Helpers for notice tests: every channel pointed at the simulator, and what each one received."""

from __future__ import annotations

from typing import Any

import pytest

WEBHOOK_SECRET = "sim-webhook-secret-0123456789"

# Simulator paths of each channel's POST (regexes for SimulatorControl.requests).
CHANNEL_PATHS = {
    "email": r"/sendMail$",
    "webex": r"/webexapis/v1/messages$",
    "teams": r"^/teams/workflows/.+/invoke$",
    "webhook": r"^/hooks/",
}


async def enable_all_channels(monkeypatch: pytest.MonkeyPatch, services_env: dict[str, str]) -> None:
    """Turn on Teams and the signed webhook (e-mail and Webex are on in the ``sim`` fixture), through
    the same settings a deployment uses, then rebuild settings and clients."""
    from shared.app.runtime import reset_services
    from shared.core.settings import reset_settings
    from simulator.receivers import teams_url, webhook_url

    base = services_env["SIMULATOR_URL"]
    monkeypatch.setenv("TEAMS_WEBHOOK_URL", teams_url(base))
    monkeypatch.setenv("NOTIFY_WEBHOOK_URL", webhook_url(base))
    monkeypatch.setenv("NOTIFY_WEBHOOK_SECRET", WEBHOOK_SECRET)
    reset_settings()
    await reset_services()


async def delivered(sim: Any) -> dict[str, list[dict[str, Any]]]:
    """Requests each channel's far end accepted (2xx), as the simulator recorded them."""
    out: dict[str, list[dict[str, Any]]] = {}
    for channel, path in CHANNEL_PATHS.items():
        recorded = await sim.requests(path=path, method="POST")
        out[channel] = [r for r in recorded if isinstance(r["status"], int) and 200 <= r["status"] < 300]
    return out


def notice_text(channel: str, request: dict[str, Any]) -> str:
    """The human text of one delivered notice, whatever the channel's format."""
    import base64
    import email
    import email.policy
    import json

    if channel == "email":
        msg = email.message_from_bytes(base64.b64decode(request["text"]), policy=email.policy.default)
        return (
            "\n".join(str(p.get_content()) for p in msg.walk() if p.get_content_type() in ("text/plain", "text/html"))
            + f"\nSubject: {msg['Subject']}"
        )
    if channel == "webex":
        return str(request["json"]["markdown"])
    return json.dumps(request["json"])


def asks_for_consent(channel: str, request: dict[str, Any]) -> bool:
    """Is this notice the consent notice? The webhook document always names the consent URL, and
    says in ``consent_needed`` whether granting it is the fix; the others only link it then."""
    if channel == "webhook":
        return bool(request["json"]["consent_needed"])
    return "adminconsent" in notice_text(channel, request)
