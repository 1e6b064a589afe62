"""One channel down, delivered later (issue 4): for each channel and each way it fails — HTTP 500,
429 with ``Retry-After``, a hang past the client timeout — the other channels deliver at once, the
invocation fails so the platform retries, and the failed channel is delivered by the next
verification attempt, exactly once. Everything is asserted on what the simulator received."""

from __future__ import annotations

from typing import Any

import pytest

from shared.core.errors import TransientError
from tests.helpers import eventgrid_event, incidents, receive_verify_messages, run_intake
from tests.notice_helpers import CHANNEL_PATHS, delivered, enable_all_channels

CHANNELS = tuple(CHANNEL_PATHS)
TIMEOUT = 0.5  # client read timeout in these tests (as in the fault matrix); the hang lasts longer


@pytest.fixture
async def channels(sim: Any, monkeypatch: pytest.MonkeyPatch, services_env: dict[str, str]) -> Any:
    import shared.app.runtime
    import shared.clients.graph

    monkeypatch.setattr(shared.app.runtime, "HTTP_TIMEOUT", TIMEOUT)  # Webex, Teams, webhook
    monkeypatch.setattr(shared.clients.graph, "REQUEST_TIMEOUT", TIMEOUT)  # e-mail through Graph
    await enable_all_channels(monkeypatch, services_env)
    return sim


async def break_channel(sim: Any, channel: str, failure: str) -> None:
    path, method = CHANNEL_PATHS[channel], "POST"
    if failure == "500":
        await sim.add_fault(path, method=method, status=500, times=1)
    elif failure == "429":
        await sim.add_fault(path, method=method, status=429, retry_after="1", times=1)
    else:  # hangs past the client's timeout, then the connection is dropped unanswered
        await sim.add_fault(path, method=method, delay=TIMEOUT + 2.0, drop=True, times=1)


@pytest.mark.parametrize("failure", ["500", "429", "timeout"])
@pytest.mark.parametrize("channel", CHANNELS)
async def test_one_channel_down_is_delivered_later_exactly_once(
    channels: Any, app_functions: dict[str, Any], channel: str, failure: str
) -> None:
    await break_channel(channels, channel, failure)
    records = await channels.delete("integration", actor="mallory@contoso.example")
    handler = app_functions["eventgrid_audit"].get_user_function()
    event = eventgrid_event(records[0])

    await handler(event)  # acknowledged after the intake-queue write
    with pytest.raises(TransientError, match=channel):  # the intake run fails so the queue redelivers
        await run_intake(app_functions)
    got = await delivered(channels)
    others = [c for c in CHANNELS if c != channel]
    assert {c: len(got[c]) for c in others} == dict.fromkeys(others, 1), "the others deliver at once"
    assert got[channel] == [], f"{channel} is down"
    attempts = await channels.requests(path=CHANNEL_PATHS[channel], method="POST")
    answered = {"500": {500}, "429": {429}, "timeout": {None, "dropped"}}[failure]  # None: still hanging
    assert len(attempts) == 1 and attempts[0]["status"] in answered
    (inc,) = await incidents()
    failed = inc.deliveries[f"{channel}/opened"]
    assert failed.status == "failed" and failed.attempts == 1
    if failure == "429":
        assert failed.retry_after == 1.0, "the Retry-After hint is kept"
    if failure == "timeout":
        assert (failed.error or "").startswith("timeout"), failed.error
    assert inc.state == "open", "not notified until every channel has the notice"

    verify = app_functions["verify_incident"].get_user_function()
    (msg,) = await receive_verify_messages(wait=8.0)
    await verify(msg)  # the next verification attempt flushes the pending notice
    got = await delivered(channels)
    assert {c: len(p) for c, p in got.items()} == dict.fromkeys(CHANNELS, 1), "each channel exactly once"
    (inc,) = await incidents()
    assert inc.deliveries[f"{channel}/opened"].status == "sent" and inc.deliveries[f"{channel}/opened"].attempts == 2

    await handler(event)  # Event Grid's redelivery finds nothing left to send
    await run_intake(app_functions)
    (msg,) = await receive_verify_messages(wait=8.0)
    await verify(msg)
    got = await delivered(channels)
    assert {c: len(p) for c, p in got.items()} == dict.fromkeys(CHANNELS, 1), "still exactly once"
    assert len(await channels.requests(path=CHANNEL_PATHS[channel], method="POST")) == 2


async def test_webhook_delivery_is_signed_with_the_configured_secret(
    channels: Any, app_functions: dict[str, Any]
) -> None:
    from shared.notify.signing import verify_webhook
    from tests.notice_helpers import WEBHOOK_SECRET

    records = await channels.delete("integration")
    await app_functions["eventgrid_audit"].get_user_function()(eventgrid_event(records[0]))
    await run_intake(app_functions)
    (post,) = (await channels.state())["webhook_posts"]
    raw, signature, timestamp = post["raw"].encode(), post["signature"], post["timestamp"]
    assert verify_webhook(raw, WEBHOOK_SECRET.encode(), signature, timestamp, delivery_id=post["delivery"])
    assert post["body"]["notice"] == "opened" and post["body"]["consent_needed"] is True
    (card,) = (await channels.state())["teams_posts"]
    assert card["body"]["attachments"][0]["content"]["type"] == "AdaptiveCard"
