"""The simulator's Teams Workflows and generic webhook receivers refuse what the real ones refuse."""

from __future__ import annotations

import ssl
from typing import Any

import httpx

from simulator.receivers import teams_url, webhook_url


async def test_receivers_accept_only_well_formed_posts(sim: Any, services_env: dict[str, str]) -> None:
    base = services_env["SIMULATOR_URL"]
    card = {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": {"type": "AdaptiveCard"}}
        ],
    }
    verify = ssl.create_default_context(cafile=services_env["SSL_CERT_FILE"])
    async with httpx.AsyncClient(verify=verify) as http:
        no_sig = await http.post(teams_url(base).split("?")[0], json=card)
        not_a_card = await http.post(teams_url(base), json={"type": "message", "text": "hi"})
        ok = await http.post(teams_url(base), json=card)
        unsigned = await http.post(webhook_url(base), json={"notice": "opened"})
        signed = await http.post(
            webhook_url(base),
            json={"notice": "opened"},
            headers={
                "X-Remediator-Signature": "sha256=00",
                "X-Remediator-Timestamp": "1",
                "X-Remediator-Delivery": "d",
            },
        )
        no_delivery = await http.post(
            webhook_url(base),
            json={"notice": "opened"},
            headers={"X-Remediator-Signature": "sha256=00", "X-Remediator-Timestamp": "1"},
        )
    assert no_sig.status_code == 401 and no_sig.json()["error"]["code"] == "DirectApiAuthorizationRequired"
    assert not_a_card.status_code == 400 and not_a_card.json()["error"]["code"] == "TriggerInputSchemaMismatch"
    assert ok.status_code == 202 and ok.content == b""
    assert unsigned.status_code == 400 and no_delivery.status_code == 400 and signed.status_code == 204
    state = await sim.state()
    assert len(state["teams_posts"]) == 1 and state["teams_posts"][0]["body"] == card
    assert [p["body"] for p in state["webhook_posts"]] == [{"notice": "opened"}]
